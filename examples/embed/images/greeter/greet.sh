#!/bin/sh
echo "$(cat /app/greeting), $*"
