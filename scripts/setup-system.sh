#!/usr/bin/env bash
# Installs the Debian packages hark needs when they are missing.
#   libportaudio2                  sounddevice's native library
#   espeak-ng flite festival ...   synthetic speech for data, tests and evaluation (the other-language
#                                  festvox voices are female voices for the codec's training pool;
#                                  us-slt-hts is a held-out test voice of audio/speakers.py)
#   pulseaudio* libasound2-plugins a null-sink sound server: real paced devices on machines with no sound card
#   tmux                           the TUI's end-to-end screen test
set -euo pipefail
packages=(libportaudio2 espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
          festvox-italp16k festvox-suopuhe-lj festvox-czech-dita festvox-ca-ona-hts festvox-us-slt-hts
          pulseaudio pulseaudio-utils libasound2-plugins tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "hark needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get install -y ${missing[*]}   (or: sudo make setup)" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
