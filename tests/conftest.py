"""Shared fixtures: small REAL inputs built on the fly (images, videos written with PyAV, PDFs written with
fpdf2, Markdown/HTML), plus damaged variants (truncated, corrupt, empty, encrypted).

Everything is generated into a session temp folder once, so tests stay fast and the repository carries no
binary fixtures. Builders needing an optional tool (espeak-ng) skip the tests that use them when it is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image, ImageDraw, ImageFont

# Property tests check correctness, not speed: on a loaded 2-core CI machine a 200 ms per-example deadline
# fails at random (speed is measured in benchmarks/).
settings.register_profile("vimrag", deadline=None)
settings.load_profile("vimrag")

# ---------------------------------------------------------------- images


def _pattern(w: int, h: int, color: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (w, h), color)
    d = ImageDraw.Draw(img)
    d.rectangle([w // 4, h // 4, w // 2, h // 2], fill=(255 - color[0], 255 - color[1], 255 - color[2]))
    return img


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of small real images in every supported format (see the file names)."""
    d = tmp_path_factory.mktemp("media")
    base = _pattern(64, 48, (200, 30, 30))
    base.save(d / "red.png")
    base.save(d / "red.jpg", quality=90)
    base.save(d / "red.webp")
    base.save(d / "red.bmp")
    base.save(d / "red.tiff")
    frames = [_pattern(32, 32, c) for c in ((0, 0, 255), (0, 255, 0))]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    rgba.save(d / "transparent.png")
    # EXIF orientation 6 = "rotate 90° CW to display": stored 40×20, shown 20×40.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20), (10, 120, 10)).save(d / "rotated.jpg", exif=exif.tobytes())
    Image.new("RGB", (5000, 100), (90, 90, 90)).save(d / "wide.png")
    base.save(d / "png_named.jpg", format="PNG")  # content beats extension
    return d


# ---------------------------------------------------------------- video


def write_video(
    path: Path,
    scenes: list[tuple[float, tuple[int, int, int]]],
    *,
    fps: int = 10,
    size: tuple[int, int] = (96, 64),
    codec: str = "libx264",
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    audio_codec: str = "aac",
) -> Path:
    """Write a real video with PyAV: each scene (seconds, colour) is a solid colour with a moving square,
    so consecutive frames differ a little and scene cuts differ a lot; optional mono audio track."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        a_s = None
        if audio is not None:
            a_s = out.add_stream(audio_codec, rate=audio_rate if audio_codec != "libopus" else 48000)
            a_s.layout = "mono"
        n = 0
        for seconds, color in scenes:
            for _ in range(int(round(seconds * fps))):
                arr = np.empty((h, w, 3), np.uint8)
                arr[:] = color
                x = (n * 2) % (w - 8)
                arr[8:16, x : x + 8] = 255 - np.asarray(color, np.uint8)
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                frame.pts = n
                frame.time_base = Fraction(1, fps)
                for pkt in vs.encode(frame):
                    out.mux(pkt)
                n += 1
        for pkt in vs.encode():
            out.mux(pkt)
        if a_s is not None and audio is not None:
            rate = a_s.rate
            pcm = audio.astype(np.float32)
            if rate != audio_rate:
                idx = np.linspace(0, len(pcm) - 1, int(len(pcm) * rate / audio_rate))
                pcm = np.interp(idx, np.arange(len(pcm)), pcm).astype(np.float32)
            s16 = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
            af = av.AudioFrame.from_ndarray(s16.reshape(1, -1), format="s16", layout="mono")
            af.sample_rate = rate
            af.pts = 0
            af.time_base = Fraction(1, rate)
            for pkt in a_s.encode(af):
                out.mux(pkt)
            for pkt in a_s.encode():
                out.mux(pkt)
    return path


SCENES = [(4.0, (20, 20, 20)), (4.0, (230, 230, 230)), (4.0, (200, 20, 20))]  # cuts at 4 s and 8 s; 12 s


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scenes.mp4 (12 s, H.264 + AAC tone), scenes.webm (VP8, no audio), scenes.mkv (H.264), scenes.avi
    (MPEG-4 Part 2), scenes.mov; truncated.mp4 (cut in half: index lost), truncated.mkv (cut in half:
    the first half still decodes)."""
    d = tmp_path_factory.mktemp("video")
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(16000 * 12) / 16000)
    write_video(d / "scenes.mp4", SCENES, audio=tone)
    write_video(d / "scenes.webm", SCENES, codec="libvpx")
    write_video(d / "scenes.mkv", SCENES)
    write_video(d / "scenes.avi", SCENES, codec="mpeg4")
    write_video(d / "scenes.mov", SCENES)
    for name in ("scenes.mp4", "scenes.mkv"):
        data = (d / name).read_bytes()
        (d / f"truncated{Path(name).suffix}").write_bytes(data[: len(data) // 2])
    return d


def espeak_pcm(text: str, folder: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng at 150 words a minute, as 16 kHz mono float samples (skips the test
    when espeak-ng is not installed)."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    import av

    wav = folder / f"say-{abs(hash(text))}.wav"
    subprocess.run([exe, "-s", "150", "-w", str(wav), text], check=True)
    with av.open(str(wav)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        return np.concatenate(
            [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in resampler.resample(fr)]
        )


@pytest.fixture(scope="session")
def speech_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s video whose audio is espeak-ng saying a known sentence starting at about 1 s."""
    d = tmp_path_factory.mktemp("speech")
    pcm = espeak_pcm("The giraffe walked across the bridge.", d)
    audio = np.concatenate([np.zeros(16000, np.float32), pcm, np.zeros(16000, np.float32)])
    seconds = max(6.0, len(audio) / 16000)
    return write_video(d / "speech.mp4", [(seconds, (40, 90, 160))], audio=audio)


# ---------------------------------------------------------------- documents


def _text_image(text: str, size: tuple[int, int] = (1000, 300)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.text((40, 100), text, fill="black", font=ImageFont.load_default(size=64))
    return img


@pytest.fixture(scope="session")
def doc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """two_pages.pdf (page 1: text layer; page 2: only an image of the words "INVOICE 4711"), encrypted.pdf
    (user password), truncated.pdf, notes.md, page.html, plain.txt, empty.txt, blank.txt, binary.txt."""
    from fpdf import FPDF

    d = tmp_path_factory.mktemp("docs")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.multi_cell(0, 8, "Quarterly report. The northern region sold 1,240 bicycles in the third quarter.")
    pdf.add_page()
    img_path = d / "scan.png"
    _text_image("INVOICE 4711").save(img_path)
    pdf.image(str(img_path), x=10, y=20, w=180)
    pdf.output(str(d / "two_pages.pdf"))
    enc = FPDF()
    enc.set_encryption(owner_password="owner", user_password="secret")
    enc.add_page()
    enc.set_font("Helvetica", size=12)
    enc.cell(0, 10, "classified")
    enc.output(str(d / "encrypted.pdf"))
    data = (d / "two_pages.pdf").read_bytes()
    (d / "truncated.pdf").write_bytes(data[: len(data) // 3])
    (d / "notes.md").write_text(
        "# Project Falcon\n\nFalcon is a delivery drone programme.\n\n"
        "## Budget\n\nThe budget is 3.2 million euros.\n\n```\n# not a heading\n```\n\n"
        "### Risks\n\nBattery supply is the main risk.\n\n## Team\n\nAda leads the team.\n"
    )
    (d / "page.html").write_text(
        "<!DOCTYPE html><html><head><title>Harbour news</title><style>.x{color:red}</style>"
        "<script>var hidden = 'do not index';</script></head><body><h1>Harbour</h1><p>The ferry leaves at "
        "9&nbsp;am.</p><div>Tickets cost <b>12</b> euros.</div><h2>Weather</h2><p>Windy.</p>"
        "<noscript>enable js</noscript></body></html>"
    )
    (d / "plain.txt").write_text("\n\n".join(f"Paragraph {i}. " + "word " * 40 for i in range(12)))
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.txt").write_text("   \n\n  \n")
    (d / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00" * 10)
    return d


@pytest.fixture(scope="session")
def bad_media_dir(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """truncated.png, noise.jpg (random bytes), empty.png, text_named.png, unknown.xyz (binary)."""
    d = tmp_path_factory.mktemp("bad")
    data = (media_dir / "red.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    rng = np.random.default_rng(0)
    (d / "noise.jpg").write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    (d / "empty.png").write_bytes(b"")
    (d / "text_named.png").write_text("just some words, not pixels")
    (d / "unknown.xyz").write_bytes(b"\x00\x13\x37" + rng.integers(0, 256, 100, dtype=np.uint8).tobytes())
    return d
