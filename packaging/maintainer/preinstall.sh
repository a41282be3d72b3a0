#!/bin/sh
# camagent preinstall (deb preinst, rpm %pre): create the camagent system
# user and group before the files are unpacked, so that /etc/camagent and
# its config can belong to group camagent. Nothing to do when it exists.
set -e

if getent passwd camagent >/dev/null 2>&1; then
	exit 0
fi
if command -v systemd-sysusers >/dev/null 2>&1; then
	# The line of /usr/lib/sysusers.d/camagent.conf, which is not unpacked
	# yet (scripts/check-package checks that the two agree).
	echo 'u camagent - "camagent edge camera agent" /var/lib/camagent' |
		systemd-sysusers --replace=/usr/lib/sysusers.d/camagent.conf -
elif command -v adduser >/dev/null 2>&1 && [ -e /etc/debian_version ]; then
	adduser --system --group --home /var/lib/camagent --no-create-home \
		--gecos "camagent edge camera agent" camagent
else
	useradd --system --user-group --home-dir /var/lib/camagent --no-create-home \
		--shell /usr/sbin/nologin --comment "camagent edge camera agent" camagent
fi
