"""The web app in a real browser (Debian's Chromium, driven by Selenium through
chromedriver) against the real server (uvicorn on 127.0.0.1): an analyst's whole review, a
viewer's limits, unknown people, the comparison view and the audit page. Screenshots of each
page go to test-output/screenshots/ (or $FACESIFT_TEST_OUTPUT/screenshots/)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image, ImageOps

from facesift import FaceEngine, Workspace, samples
from facesift.samples import build_demo
from facesift.web.app import create_app
from tests.osint import CHANNEL_ID, build_telegram_export

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("FACESIFT_TEST_OUTPUT", ROOT / "test-output")) / "screenshots"
PASSWORDS = {"root": "admin password", "ana": "analyst password", "vic": "viewer password"}

if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "Chromium and chromedriver are not installed (make test installs Debian's chromium "
        "and chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Site:
    def __init__(self, base: str, workspace: Workspace, evidence: Path) -> None:
        self.base = base
        self.workspace = workspace
        self.evidence = evidence


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, engine: FaceEngine) -> Iterator[Site]:
    """The demo gallery enrolled; a case of two photos of one stranger; the server."""
    folder = tmp_path_factory.mktemp("web")
    demo = build_demo(folder / "demo")
    workspace = Workspace(folder / "ws", engine=engine, actor="setup")
    workspace.enroll_folder(demo.gallery)
    strangers = folder / "strangers"
    strangers.mkdir()
    hopper = next((demo.gallery / "Grace Hopper").iterdir())
    with Image.open(samples.cameraman()) as photo:  # one stranger, twice (once mirrored)
        large = photo.convert("RGB").resize((photo.width * 8 // 5, photo.height * 8 // 5))
        large.save(strangers / "stranger-1.png")
        ImageOps.mirror(large).save(strangers / "stranger-2.png")
    workspace.scan([strangers], case="strangers", workers=1)
    workspace.scan([demo.clip], case="footage", workers=1)
    export = build_telegram_export(folder / "ChatExport", demo)
    workspace.scan([export], case="telegram", workers=1, fps=2.0)
    evidence = folder / "hopper-evidence.png"
    with Image.open(hopper) as photo:
        photo.convert("RGB").resize((photo.width * 3 // 4, photo.height * 3 // 4)).save(evidence)
    for name, role in (("root", "admin"), ("ana", "analyst"), ("vic", "viewer")):
        workspace.add_user(name, role, PASSWORDS[name])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(workspace, scan_workers=1), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/api/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    yield Site(base, workspace, evidence)
    server.should_exit = True
    thread.join(timeout=30)
    workspace.close()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,1600"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def _shot(browser: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def _sign_in(browser: WebDriver, site: Site, name: str) -> None:
    browser.get(f"{site.base}/login")
    browser.find_element(By.ID, "username").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _waiting(browser, 10).until(ready.title_contains("Cases"))


def _waiting(browser: WebDriver, seconds: float) -> WebDriverWait[WebDriver]:
    """A wait that looks again when the browser is between two documents."""
    return WebDriverWait(browser, seconds, ignored_exceptions=(WebDriverException,))


def _submit(browser: WebDriver, button: WebElement) -> None:
    """Click a form's button and wait until the page it leads to has loaded: a mark left on
    this page's window is gone from the next one's (a check of the old page's elements can
    fail in other ways while the browser swaps documents)."""
    browser.execute_script("window.facesiftOldPage = true;")
    button.click()

    def next_page_loaded(driver: WebDriver) -> bool:
        try:
            return bool(
                driver.execute_script(
                    "return window.facesiftOldPage === undefined"
                    " && document.readyState === 'complete';"
                )
            )
        except WebDriverException:  # between documents
            return False

    WebDriverWait(browser, 30).until(next_page_loaded)


def _loaded_size(browser: WebDriver, element_id: str) -> tuple[int, int]:
    """The decoded size of an image (0×0 when it did not load)."""
    _waiting(browser, 10).until(
        lambda b: b.execute_script(f"return document.getElementById('{element_id}').complete")
    )
    return tuple(  # type: ignore[return-value]
        browser.execute_script(
            f"const i = document.getElementById('{element_id}');"
            "return [i.naturalWidth, i.naturalHeight];"
        )
    )


def test_an_analyst_uploads_searches_confirms_and_an_admin_sees_it(
    browser: WebDriver, site: Site
) -> None:
    _sign_in(browser, site, "ana")
    _shot(browser, "01-cases")
    browser.get(f"{site.base}/people")
    thumbs = browser.find_elements(By.CSS_SELECTOR, ".grid img")
    assert len(thumbs) == 2
    assert all(b > 0 for b in (browser.execute_script("return arguments[0].naturalWidth", t)
                               for t in thumbs))  # fmt: skip
    _shot(browser, "02-gallery")

    browser.get(f"{site.base}/cases")
    browser.find_element(By.ID, "case-name").send_keys("web")
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "form.inline button"))
    assert "web" in browser.title
    browser.find_element(By.ID, "upload-files").send_keys(str(site.evidence))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    # The page uploads with a progress bar, follows the scan job, and reloads when it is done.
    _waiting(browser, 120).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#faces-title + ul img")
    )
    shown = browser.find_element(By.TAG_NAME, "main").text
    assert "1 file(s), 1 face(s)" in shown
    assert f"{site.evidence.name} (uploaded)" in shown  # the name it was sent under
    _shot(browser, "03-case")

    browser.get(f"{site.base}/search")
    browser.find_element(By.ID, "probe").send_keys(str(site.evidence))
    browser.find_element(By.CSS_SELECTOR, "form.inline button").click()
    _waiting(browser, 60).until(lambda b: b.find_elements(By.ID, "annotated"))
    width, height = _loaded_size(browser, "annotated")
    with Image.open(site.evidence) as photo:
        assert (width, height) == photo.size
    first = browser.find_element(By.CSS_SELECTOR, "section.result tbody tr")
    assert "Grace Hopper" in first.text
    _shot(browser, "04-search")

    browser.get(f"{site.base}/cases/web/review?band=weak")
    item = browser.find_element(By.CSS_SELECTOR, ".queue-item")
    assert "Grace Hopper" in item.text
    assert browser.switch_to.active_element == item  # the queue starts on its first item
    _shot(browser, "05-review")
    browser.switch_to.active_element.send_keys("c")  # confirm, by keyboard
    _waiting(browser, 10).until(lambda b: "confirm by ana" in b.find_element(By.ID, "queue").text)

    compare = browser.find_element(By.PARTIAL_LINK_TEXT, "Forensic comparison")
    compare.click()
    _waiting(browser, 30).until(lambda b: b.find_elements(By.ID, "probe-chip"))
    assert _loaded_size(browser, "probe-chip") == (320, 320)
    assert _loaded_size(browser, "reference-chip") == (320, 320)
    browser.find_element(By.ID, "show-landmarks").click()
    marks = browser.find_elements(By.CSS_SELECTOR, ".landmarks circle")
    assert len(marks) == 10 and marks[0].is_displayed()
    assert "SHA-256" in browser.find_element(By.CSS_SELECTOR, "table.provenance").text
    assert browser.find_elements(By.CSS_SELECTOR, "form.decide button[value=reject]")
    _shot(browser, "06-compare")
    _submit(browser, browser.find_element(By.LINK_TEXT, "Back to the review queue"))
    assert "Review" in browser.title
    assert "confirm by ana" in browser.find_element(By.ID, "queue").text

    browser.get(f"{site.base}/cases/web")
    assert (
        "Grace Hopper"
        in browser.find_element(By.ID, "identified-title").find_element(By.XPATH, "..").text
    )

    _submit(browser, browser.find_element(By.CSS_SELECTOR, ".signout button"))
    _sign_in(browser, site, "root")
    browser.get(f"{site.base}/audit?action=review.decide")
    assert "ana" in browser.find_element(By.CSS_SELECTOR, "tbody").text
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "button[name=verify]"))
    assert "Intact" in browser.find_element(By.ID, "verify-result").text
    _shot(browser, "07-audit")


def test_a_viewer_sees_no_controls_and_the_server_refuses_theirs(
    browser: WebDriver, site: Site
) -> None:
    _sign_in(browser, site, "vic")
    browser.get(f"{site.base}/cases/strangers")
    assert not browser.find_elements(By.ID, "upload")
    browser.get(f"{site.base}/cases/strangers/review?band=weak")
    assert not browser.find_elements(By.CSS_SELECTOR, "form.decide")
    assert "Search" not in browser.find_element(By.TAG_NAME, "nav").text
    _shot(browser, "08-viewer-review")
    # The viewer's own session and CSRF token, used to post what the page does not offer.
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    token = re.search(r'data-csrf="([0-9a-f]+)"', browser.page_source)
    assert token is not None
    face_id = site.workspace.faces(case="strangers")[0].id
    refused = httpx.post(
        f"{site.base}/decisions",
        cookies=cookies,
        data={"csrf": token.group(1), "target": str(face_id), "person": "Grace Hopper",
              "verdict": "confirm"},
    )  # fmt: skip
    assert refused.status_code == 403
    upload = httpx.post(
        f"{site.base}/cases/strangers/upload",
        cookies=cookies,
        headers={"X-CSRF-Token": token.group(1)},
        files={"files": ("x.png", site.evidence.read_bytes())},
    )
    assert upload.status_code == 403
    assert site.workspace.decisions(case="strangers") == []
    browser.get(f"{site.base}/audit")
    assert "Not allowed" in browser.title


def test_unknown_people_are_split_merged_and_named(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, "ana")
    browser.get(f"{site.base}/cases/strangers/clusters")
    _submit(browser, browser.find_element(By.XPATH, "//button[contains(., 'Cluster the')]"))
    (cluster,) = browser.find_elements(By.CSS_SELECTOR, "section.cluster")
    assert len(cluster.find_elements(By.CSS_SELECTOR, "img")) == 2
    cluster.find_elements(By.CSS_SELECTOR, "input[name=face]")[0].click()
    _submit(browser, cluster.find_element(By.CSS_SELECTOR, "button[value=split]"))
    clusters = browser.find_elements(By.CSS_SELECTOR, "section.cluster")
    assert [len(c.find_elements(By.CSS_SELECTOR, "img")) for c in clusters] == [1, 1]
    _shot(browser, "09-clusters-split")
    # The merge field holds the most similar cluster: the other part.
    _submit(browser, clusters[0].find_element(By.CSS_SELECTOR, "button[value=merge]"))
    (merged,) = browser.find_elements(By.CSS_SELECTOR, "section.cluster")
    assert len(merged.find_elements(By.CSS_SELECTOR, "img")) == 2
    merged.find_element(By.CSS_SELECTOR, "input[name=person]").send_keys("The Cameraman")
    _submit(browser, merged.find_element(By.CSS_SELECTOR, "button[value=name]"))
    assert not browser.find_elements(By.CSS_SELECTOR, "section.cluster")  # named: not open
    browser.get(f"{site.base}/people")
    assert "The Cameraman" in browser.find_element(By.TAG_NAME, "main").text
    _shot(browser, "10-gallery-named")


def test_a_video_shows_its_tracks_and_the_frame_at_any_time(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, "vic")
    browser.get(f"{site.base}/cases/footage")
    _submit(browser, browser.find_element(By.LINK_TEXT, "clip.mp4"))
    tracks = browser.find_elements(By.CSS_SELECTOR, "section.result")
    assert len(tracks) >= 2
    assert "Grace Hopper" in tracks[0].text
    shots = tracks[0].find_elements(By.CSS_SELECTOR, "img")
    assert shots and all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0 for img in shots
    )
    media = site.workspace.media(case="footage")[0]
    assert _loaded_size(browser, "frame") == (media.width, media.height)
    start = float(tracks[1].text.split("Track ")[1].split(":")[1].split("–")[0])
    _submit(browser, tracks[1].find_element(By.PARTIAL_LINK_TEXT, "jump to its start"))
    caption = browser.find_element(By.TAG_NAME, "figcaption").text
    shown = float(caption.split(" at ")[1].split(" s")[0])
    assert abs(shown - start) < 0.1, caption
    _shot(browser, "11-video")


def test_faces_from_a_telegram_export_show_their_posts(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, "ana")
    browser.get(f"{site.base}/cases/telegram/review?band=weak")
    items = browser.find_elements(By.CSS_SELECTOR, "article.queue-item")
    close_up = [i for i in items if "post 3," in i.text]
    assert close_up, "the forwarded close-up of Hopper is in the queue with its post"
    assert "Telegram Front News post 3, 2022-03-02 10:00 UTC" in close_up[0].text
    assert "forwarded from Other Channel" in close_up[0].text
    link = close_up[0].find_element(By.CSS_SELECTOR, "ul.sources a")
    assert link.get_attribute("href") == f"https://t.me/c/{CHANNEL_ID}/3"
    scene = [i for i in items if "post 2," in i.text]
    assert scene and "post 6," in scene[0].text  # one file, posted twice
    _shot(browser, "12-review-telegram")
    _submit(browser, close_up[0].find_element(By.LINK_TEXT, "Forensic comparison"))
    provenance = browser.find_element(By.CSS_SELECTOR, "table.provenance").text
    assert "Telegram Front News post 3" in provenance and "(no source recorded)" in provenance
    _shot(browser, "13-compare-telegram")
