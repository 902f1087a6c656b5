#!/usr/bin/env bash
# Regenerates the tray icons (ImageMagick). Drawn at 8x and downsampled, so edges stay crisp at
# 22 px (Linux trays draw 22 px PNGs 1:1) and 44 px (macOS @2x menu bar).
# The state colour fills the centre of the disc: tests sample the icon's centre pixel.
set -euo pipefail
cd "$(dirname "$0")"
draw() { # fill stroke glyph size out
  local S=176
  convert -size ${S}x${S} xc:none \
    -fill "$1" -stroke "$2" -strokewidth 8 -draw "circle 88,88 88,10" \
    -stroke "$3" -strokewidth 9 -draw "line 56,88 120,56" -draw "line 56,88 120,120" \
    -stroke none -fill "$3" -draw "circle 56,88 56,72" -draw "circle 120,56 120,42" -draw "circle 120,120 120,134" \
    -fill "$1" -draw "circle 88,88 88,80" \
    -filter Lanczos -resize "$4x$4" "PNG32:$5"
}
for spec in "up #2e9d44 #1f6e2f" "degraded #e0a100 #9c7000" "crash-loop #d93025 #a1221a" "stopped #8a8f98 #5f636a"; do
  set -- $spec
  draw "$2" "$3" white 22 "tray-$1.png"
  draw "$2" "$3" white 44 "tray-$1@2x.png"
done
# macOS template icon: black and alpha only; the menu bar tints it for light and dark mode.
template() { # size out: the share glyph alone, black on transparent
  convert -size 176x176 xc:none -stroke black -strokewidth 14 -draw "line 44,88 132,44" -draw "line 44,88 132,132" \
    -stroke none -fill black -draw "circle 44,88 44,62" -draw "circle 132,44 132,20" -draw "circle 132,132 132,156" \
    -filter Lanczos -resize "$1x$1" "PNG32:$2"
}
template 22 tray-template.png
template 44 tray-template@2x.png
# App icon (autostart entry, notifications).
draw "#2e9d44" "#1f6e2f" white 128 mcpshare.png
