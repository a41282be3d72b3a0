package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
)

// permProblem is a config file other users may read or change: it holds
// camera tokens and passwords.
type permProblem struct {
	File string
	Mode fs.FileMode
	// Owner and RunsAs are set when the file belongs to another user than
	// the one camagent runs as.
	Owner, RunsAs string
	Fix           string // the command that makes it private
}

func (p *permProblem) String() string {
	s := fmt.Sprintf("%s is readable or writable by other users (mode %04o)", p.File, p.Mode)
	if p.Owner != "" {
		s += fmt.Sprintf(" and owned by %s, not by %s, the user camagent runs as", p.Owner, p.RunsAs)
	}
	return s + "; it may hold tokens and passwords, fix: " + p.Fix
}

// configPerm checks the config file at path for a process running as
// uid and gid; nil means private enough (or no file to judge: loading it
// reports that). Any access by others and group write is a problem; group
// read is one too unless root owns the file: the package installs it
// root:camagent 0640 so the service reads it and cannot rewrite it, and
// telling that setup to chmod 600 would lock the service out.
func configPerm(path string, uid, gid int) *permProblem {
	info, err := os.Stat(path)
	if err != nil {
		return nil
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mode := info.Mode().Perm()
	owner := int(st.Uid)
	if mode&0o027 == 0 && (mode&0o040 == 0 || owner == 0) {
		return nil
	}
	p := &permProblem{File: path, Mode: mode}
	switch {
	case owner == uid:
		p.Fix = "chmod 600 " + path
	case owner == 0: // keep root as owner, let the service's group read it
		p.Owner, p.RunsAs = userName(owner), userName(uid)
		p.Fix = "chmod 640 " + path
		if int(st.Gid) != gid {
			p.Fix = "chgrp " + groupName(gid) + " " + path + " && " + p.Fix
		}
	default:
		p.Owner, p.RunsAs = userName(owner), userName(uid)
		p.Fix = "chown " + p.RunsAs + " " + path + " && chmod 600 " + path
	}
	return p
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// warnConfigPerm logs a warning when cfg's file is open to other users;
// run calls it at start and after each reload that read the file.
func warnConfigPerm(log *zap.Logger, cfg *config.Config) {
	if cfg == nil || cfg.Source() == "" {
		return
	}
	p := configPerm(cfg.Source(), os.Getuid(), os.Getgid())
	if p == nil {
		return
	}
	fields := []zap.Field{zap.String("file", p.File), zap.String("mode", fmt.Sprintf("%04o", p.Mode))}
	if p.Owner != "" {
		fields = append(fields, zap.String("owner", p.Owner), zap.String("runs_as", p.RunsAs))
	}
	log.Warn("config file is readable or writable by other users", append(fields, zap.String("fix", p.Fix))...)
}

// printConfigPerm is warnConfigPerm for camagent check: one warning line.
func printConfigPerm(w io.Writer, path string) {
	if p := configPerm(path, os.Getuid(), os.Getgid()); p != nil {
		fmt.Fprintln(w, "warning:", p)
	}
}
