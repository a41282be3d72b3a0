#!/bin/sh
# camagent postremove (deb postrm, rpm %postun). On purge (deb only) remove
# the state directory and whatever is left in /etc/camagent (credentials,
# environment files). The camagent user stays, as Debian does with system
# users: files elsewhere may still belong to it.
set -e

case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/lib/camagent /etc/camagent
fi
