"""The image feed on real files (Pillow JPEGs and PNGs, the real decoder): each photo decoded once per job and
ahead of its batch, kept for later rounds within a byte budget, dropped when its item finishes; a broken file
fails alone, with the same line every round; the wait a batch has for its images is measured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from imageworks.daemon.backends.feed import ImageFeed, Prepared, feed_threads
from imageworks.daemon.backends.images import ImageReadError, open_image
from tests.waiting import wait_for

CAP = 64 * 64


class Decoder:
    """The real decode to the pixel cap, with a count of what it decoded (by path)."""

    def __init__(self) -> None:
        self.decoded: list[str] = []

    def __call__(self, source: str | bytes) -> Prepared:
        self.decoded.append(source if isinstance(source, str) else "(bytes)")
        image = open_image(source, CAP)
        return Prepared(image, image.width * image.height * 3)


@pytest.fixture
def photos(tmp_path: Path) -> list[str]:
    paths = []
    for n, colour in enumerate(("red", "green", "blue", "yellow", "purple", "orange")):
        path = tmp_path / f"{n}-{colour}.jpg"
        Image.new("RGB", (320, 240), colour).save(path, quality=90)
        paths.append(str(path))
    return paths


def ready(prepared: Prepared | ImageReadError) -> Prepared:
    assert isinstance(prepared, Prepared), prepared
    return prepared


def test_a_photo_is_decoded_once_for_all_its_rounds_and_again_once_its_item_is_forgotten(photos) -> None:
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=2**30, threads=2)
    for _round in range(3):  # three-step tagging: caption, keywords, description
        prepared = feed.take(photos[:2])
        assert [ready(p).image.size for p in prepared] == [(73, 55)] * 2  # 320x240 within 64*64 pixels
    assert sorted(decoder.decoded) == sorted(photos[:2])
    stats = feed.snapshot()
    assert stats.decodes == 2 and stats.reused == 4 and stats.kept_bytes > 0
    feed.forget(photos[:2])
    assert feed.snapshot().kept_bytes == 0
    feed.take(photos[:1])  # the next job asks again: decoded again, once
    assert decoder.decoded.count(photos[0]) == 2
    feed.close()


def test_prefetched_photos_are_ready_when_their_batch_comes(photos) -> None:
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=2**30, threads=2)
    feed.prefetch(photos)
    wait_for(lambda: feed.snapshot().prefetched == len(photos), what="the feed to decode the hinted photos")
    prepared = feed.take(photos)
    assert all(isinstance(p, Prepared) for p in prepared)
    stats = feed.snapshot()
    assert stats.decodes == len(photos) and stats.reused == len(photos)  # nothing decoded at the batch
    assert stats.decode_s > 0 and stats.input_wait_s < stats.decode_s
    feed.close()


def test_a_file_changed_on_disk_is_decoded_again(photos) -> None:
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=2**30, threads=1)
    assert ready(feed.take(photos[:1])[0]).image.getpixel((5, 5))[0] > 200  # red
    Image.new("RGB", (160, 120), "blue").save(photos[0], quality=90)
    os.utime(photos[0], ns=(1, 1))  # and another mtime, whatever the clock's resolution
    again = ready(feed.take(photos[:1])[0])
    assert again.image.size == (73, 55)
    assert again.image.getpixel((5, 5))[2] > 200  # blue: the file as it is now
    assert decoder.decoded == [photos[0], photos[0]]
    feed.close()


def test_a_broken_file_fails_alone_early_and_the_same_way_each_round(photos, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    data = Path(photos[0]).read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=2**30, threads=2)
    feed.prefetch([photos[1], str(broken), photos[2]])
    wait_for(lambda: feed.snapshot().prefetched == 3, what="the hints to be decoded, the broken one too")
    first = feed.take([photos[1], str(broken), photos[2]])
    second = feed.take([str(broken)])
    assert isinstance(first[0], Prepared) and isinstance(first[2], Prepared)
    assert isinstance(first[1], ImageReadError) and "truncated" in str(first[1])
    assert str(second[0]) == str(first[1])
    assert decoder.decoded.count(str(broken)) == 1  # its error was kept, not decoded again
    feed.close()


def test_hints_wait_while_the_budget_is_full_so_memory_stays_bounded_and_no_decode_is_wasted(photos) -> None:
    image_bytes = 73 * 55 * 3
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=int(2.5 * image_bytes), threads=1)
    feed.prefetch(photos)  # six hinted, room for two and a half
    wait_for(lambda: feed.snapshot().decodes == 3, what="the feed to fill its budget")
    for photo in photos:  # the batches come one photo at a time
        assert isinstance(feed.take([photo])[0], Prepared)
        assert feed.snapshot().kept_bytes <= 2.5 * image_bytes + image_bytes  # the budget, and one in flight
    assert sorted(decoder.decoded) == sorted(photos)  # each decoded once: hints waited, none was thrown away
    feed.close()


def test_with_no_budget_nothing_is_kept_and_each_round_decodes_again(photos) -> None:
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=0, threads=1)
    feed.take(photos[:1])
    feed.take(photos[:1])
    assert decoder.decoded == [photos[0]] * 2 and feed.snapshot().kept_bytes == 0
    feed.close()


def test_inline_images_are_prepared_on_the_spot_and_not_kept(photos) -> None:
    decoder = Decoder()
    feed = ImageFeed(decoder, budget_bytes=2**30, threads=1)
    data = Path(photos[0]).read_bytes()
    feed.take([data])
    feed.take([data])
    assert decoder.decoded == ["(bytes)", "(bytes)"] and feed.snapshot().kept_bytes == 0
    feed.close()


def test_threads_follow_the_cpus_this_process_may_use() -> None:
    assert feed_threads() == max(1, min(8, len(os.sched_getaffinity(0))))
