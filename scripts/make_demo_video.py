"""Make the demo corpus's narrated video: src/vimrag/demo/assets/falcon_briefing.mp4 (issue 15).

Project-made and licence-clean: four slides drawn with Pillow (DejaVu Sans, bundled with Pillow), each
shown while espeak-ng reads its sentence, encoded with PyAV (H.264 + AAC). Some facts are only in the
video — the second battery supplier's name is said and shown on screen, nowhere else in the corpus — so a
demo question can only be answered from the video's speech or on-screen text, citing its time span.

The file is committed (the demo must not need espeak-ng on the user's machine); run this script again
after changing SLIDES:  .venv/bin/python scripts/make_demo_video.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[1] / "src" / "vimrag" / "demo" / "assets" / "falcon_briefing.mp4"
W, H, FPS, PAUSE_S = 640, 360, 10, 0.6
SLIDES = [  # (title, line on screen, narration)
    ("Project Falcon", "Briefing for the steering board, March 2026",
     "Project Falcon briefing for the steering board, March 2026."),
    ("Test flights", "From 14 April 2026 at the Lakeside depot",
     "Test flights begin on the fourteenth of April at the Lakeside depot."),
    ("Second battery supplier", "Voltaris Energy passed its audit",
     "The second battery supplier, Voltaris Energy, passed its audit this month."),
    ("Next review", "The steering board meets again in June",
     "The steering board meets again in June."),
]


def slide(title: str, line: str) -> np.ndarray:
    img = Image.new("RGB", (W, H), (18, 44, 84))
    d = ImageDraw.Draw(img)
    d.text((40, 110), title, font=ImageFont.load_default(size=44), fill=(255, 255, 255))
    d.text((40, 190), line, font=ImageFont.load_default(size=26), fill=(255, 214, 102))
    d.rectangle([40, 170, 600, 173], fill=(255, 214, 102))
    return np.asarray(img)


def speech(text: str, tmp: Path) -> tuple[np.ndarray, int]:
    wav = tmp / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm, rate


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        clips = [(slide(t, line), *speech(said, Path(d))) for t, line, said in SLIDES]
    rate = clips[0][2]
    pause = np.zeros(int(PAUSE_S * rate), dtype=np.int16)
    with av.open(str(OUT), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=FPS, options={"crf": "30", "preset": "veryslow", "threads": "1"})
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        as_ = out.add_stream("aac", rate=rate)
        as_.layout = "mono"
        frame_i, sample_i, t = 0, 0, 0.0
        for (title, _, _), (picture, pcm, _) in zip(SLIDES, clips, strict=True):
            audio = np.concatenate([pcm, pause])
            t_end = t + len(audio) / rate
            print(f"{t:5.2f}-{t_end:5.2f} s  {title}", file=sys.stderr)
            while frame_i / FPS < t_end:
                vf = av.VideoFrame.from_ndarray(picture, format="rgb24")
                vf.pts = frame_i
                vf.time_base = Fraction(1, FPS)
                out.mux(vs.encode(vf))
                frame_i += 1
            for a in range(0, len(audio), 1024):
                af = av.AudioFrame.from_ndarray(audio[a : a + 1024].reshape(1, -1), format="s16", layout="mono")
                af.sample_rate, af.pts, af.time_base = rate, sample_i, Fraction(1, rate)
                sample_i += af.samples
                out.mux(as_.encode(af))
            t = t_end
        out.mux(vs.encode(None))
        out.mux(as_.encode(None))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KB, {t:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
