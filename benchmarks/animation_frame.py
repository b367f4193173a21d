"""One frame of a sketch's `--animate` SVG as a real browser draws it, for the docs: headless
Chromium (Debian's, driven by Selenium) pauses every animation at ``--at`` seconds and takes a
screenshot, cropped to the sketch, with a caption under it.

Run: .venv/bin/python benchmarks/animation_frame.py SKETCH.svg OUT.png [--at 3] [--caption TEXT]

SKETCH.svg is a sketch as `sketchify sketch` writes it (photo pixels); the animation is made from
it here, as `--animate` makes it.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from sketchify.core.output.animation import animated_svg

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAUSE_AT = """
for (const animation of document.getAnimations()) {
  animation.pause();
  animation.currentTime = arguments[0];
}
const box = document.documentElement.getBoundingClientRect();
return [box.width, box.height];
"""
CAPTION_PX = 22


def frame(sketch: Path, seconds: float, caption: str) -> Image.Image:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        with tempfile.TemporaryDirectory() as folder:
            page = Path(folder) / "animated.svg"
            page.write_text(animated_svg(sketch.read_bytes()), encoding="utf-8")
            driver.get(page.as_uri())
            width, height = driver.execute_script(PAUSE_AT, seconds * 1000)
            shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    finally:
        driver.quit()
    drawn = shot.crop((0, 0, round(width), round(height)))
    out = Image.new("RGB", (drawn.width, drawn.height + CAPTION_PX), "white")
    out.paste(drawn, (0, 0))
    ImageDraw.Draw(out).text((4, drawn.height + 5), caption, fill=(60, 60, 60),
                             font=ImageFont.load_default())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sketch", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--at", type=float, default=3.0, help="seconds into the animation")
    parser.add_argument("--caption", default="", help="default: the moment shown")
    args = parser.parse_args()
    caption = args.caption or f"--animate, paused at {args.at:g} s"
    frame(args.sketch, args.at, caption).save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
