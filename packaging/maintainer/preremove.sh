#!/bin/sh
# camagent preremove (deb prerm, rpm %preun): on removal (not on upgrade)
# stop and disable the service.
set -e

case "$1" in
remove | 0)
	if command -v systemctl >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			systemctl stop camagent.service || true
		fi
		systemctl disable camagent.service 2>/dev/null || true
	fi
	;;
esac
