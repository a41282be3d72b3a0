#!/bin/sh
# camagent preremove (deb prerm, rpm %preun): on removal (not on upgrade)
# stop and disable the service; on deb, remember that it was enabled.
set -e

case "$1" in
remove | 0)
	if command -v systemctl >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			systemctl stop camagent.service || true
		fi
		# deb keeps /var/lib/camagent until purge: mark an enabled service,
		# so that a reinstall enables it again (postinstall).
		if [ "$1" = remove ] && [ -d /var/lib/camagent ] &&
			systemctl is-enabled --quiet camagent.service 2>/dev/null; then
			touch /var/lib/camagent/.enabled-before-remove || true
		fi
		systemctl disable camagent.service 2>/dev/null || true
	fi
	;;
esac
