#!/bin/sh
# camagent postinstall (deb postinst, rpm %post).
#
# First install (or reinstall after a removal that disabled it): enable the
# service but do not start it. The shipped
# /etc/camagent/camagent.yaml is the commented example, whose camera and
# token are placeholders: edit it, check it with
# `camagent check --config /etc/camagent/camagent.yaml`, then
# `systemctl start camagent`. Upgrade: restart the service if it runs, so the
# new binary takes over; a disabled service stays disabled.
set -e

# preremove leaves this mark when a removal (deb) disabled an enabled
# service: dpkg then calls a reinstall "configure OLD-VERSION", as for an
# upgrade, and the service must come back enabled.
reenable=/var/lib/camagent/.enabled-before-remove

case "$1" in
configure) # deb: configure [OLD-VERSION]
	if [ -z "$2" ] || [ -e "$reenable" ]; then first=1; else first=0; fi
	rm -f "$reenable" ;;
1) first=1 ;;        # rpm: first install
[0-9]*) first=0 ;;   # rpm: upgrade
*) exit 0 ;;         # deb: abort-upgrade, abort-remove, ...
esac

# The user exists already (preinstall); this registers the sysusers file.
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/camagent.conf
fi

booted=0
[ -d /run/systemd/system ] && booted=1
if [ "$booted" = 1 ]; then
	systemctl daemon-reload || true
fi
if [ "$first" = 1 ]; then
	if command -v systemctl >/dev/null 2>&1; then
		# Works without a running systemd too: it only adds the symlink.
		systemctl enable camagent.service 2>/dev/null ||
			echo "camagent: could not enable camagent.service" >&2
	fi
	echo "camagent: installed and enabled, not started: edit /etc/camagent/camagent.yaml, then systemctl start camagent"
elif [ "$booted" = 1 ]; then
	systemctl try-restart camagent.service || true
fi
