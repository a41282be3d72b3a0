package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// commands are the subcommands the usage text lists, in its order.
var commands = []struct{ name, summary string }{
	{"run", "run the agent"},
	{"check", "validate a config file and exit"},
	{"discover", "find ONVIF cameras on the LAN and check their addresses"},
	{"probe", "check one camera and say whether the agent can use it"},
	{"hash-password", "print the bcrypt hash of a password for http.password_hash"},
	{"version", "print the version"},
}

// mainUsage is what a bare `camagent` and `camagent --help` print.
func mainUsage() string {
	var b strings.Builder
	b.WriteString("usage: camagent <command> [flags]\n\ncommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	b.WriteString("\n`camagent <command> --help` shows a command's flags.\n")
	b.WriteString("The demo (simulated cameras + cloud + agent on loopback) is camagent-demo.\n")
	return b.String()
}

// usageError is a command-line mistake: main prints it to stderr and exits
// with code 2. Its text ends with the usage of the command concerned.
type usageError struct {
	msg   string // what is wrong; "" when only the usage is due
	usage string // "" when the message says it all
}

func (e *usageError) Error() string {
	switch {
	case e.msg == "":
		return e.usage
	case e.usage == "":
		return e.msg
	}
	return e.msg + "\n\n" + e.usage
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// flagSet is the flags of one subcommand with the usage its --help prints.
type flagSet struct {
	*flag.FlagSet
	synopsis string // the arguments after "camagent <name>"
	about    string // what the command does, in sentences
}

func newFlagSet(name, synopsis, about string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print errors and its own usage on its own;
	// parse prints ours, to stdout for --help and in the error otherwise.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, about: about}
}

// parse parses the command's arguments. -h and --help print the usage to
// stdout and return flag.ErrHelp, which run turns into success; a bad flag
// or a stray argument is a *usageError.
func (fs *flagSet) parse(args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, fs.usage())
		return flag.ErrHelp
	case err != nil:
		return fs.mistake("%v", err)
	case fs.NArg() > 0:
		return fs.mistake("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// mistake is a usage error of this command.
func (fs *flagSet) mistake(format string, args ...any) error {
	return &usageError{msg: "camagent " + fs.Name() + ": " + fmt.Sprintf(format, args...), usage: fs.usage()}
}

// usage is the usage line, the description and one line per flag.
func (fs *flagSet) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n\nflags:\n", strings.TrimSpace("camagent "+fs.Name()+" "+fs.synopsis), fs.about)
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		name := dash + f.Name
		if arg != "" {
			name += " " + strings.ToUpper(arg)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			text += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, text)
	})
	fmt.Fprintf(tw, "  %s\t%s\n", "-h, --help", "show this help")
	tw.Flush()
	return b.String()
}
