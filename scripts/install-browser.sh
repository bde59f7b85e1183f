#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) for the web page's
# browser test (WebPageBrowserTest), when they are missing. Uses apt-get, as root or through sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; install Chromium and its chromedriver, then run the tests with" >&2
  echo "  -Djdiffusion.chromium=PATH -Djdiffusion.chromedriver=PATH" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
echo "install-browser: installing chromium and chromium-driver (apt-get)" >&2
${SUDO[@]+"${SUDO[@]}"} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${SUDO[@]+"${SUDO[@]}"} apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
