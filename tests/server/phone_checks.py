"""Phone-usability checks run in a Playwright page: axe-core, tap-target sizes, text at 200 %, bytes on reload.

Also what every phone walk needs: the app served on a free port, signing in, starting a fundus visit.

Shared by ``tests/server/test_server_phone.py`` (which asserts on them) and
``benchmarks/phone_pages.py`` (which reports them before and after a change).
axe-core comes from npm into ``tests/a11y/node_modules`` (``make axe``) and is
injected from that file: pages are never pointed at a CDN.

The tap-target rule is WCAG 2.5.5's 44 × 44 CSS px with 2.5.8's spacing
exception scaled to 44 px: a smaller target passes when a 44-px circle centred
on it meets no other target and no other small target's circle. A radio button
or checkbox wrapped in its ``<label>`` is measured as the label (a tap anywhere
on the label sets it). Hand-written because axe-core's ``target-size`` rule
checks 2.5.8's 24 px, not 44 px.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["AXE_JS", "PHONE", "axe_path", "axe_violations", "fail_or_skip", "live_server", "reload_bytes", "reset_text",
           "sign_in", "start_fundus_visit", "tap_targets", "text_overflow"]

PHONE = {"width": 360, "height": 740}
AXE_JS = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
TARGET_PX = 44

_TARGETS_JS = """(minimum) => {
  const seen = new Set();
  const items = [];
  const describe = (el) => {
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40);
    return el.tagName.toLowerCase() + (el.type ? '[' + el.type + ']' : '') + (text ? ' "' + text + '"' : '');
  };
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary')) {
    if (el.type === 'hidden' || el.closest('[hidden]')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let box = el;
    if ((el.type === 'radio' || el.type === 'checkbox') && el.closest('label')) box = el.closest('label');
    else if ((el.type === 'radio' || el.type === 'checkbox') && el.labels && el.labels.length) box = el.labels[0];
    if (seen.has(box)) continue;
    seen.add(box);
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    items.push({el: box, what: describe(el), x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height});
  }
  const half = minimum / 2;
  const small = (t) => t.w < minimum - 0.5 || t.h < minimum - 0.5;
  const centre = (t) => [t.x + t.w / 2, t.y + t.h / 2];
  const distToBox = (p, t) => Math.hypot(Math.max(t.x - p[0], 0, p[0] - t.x - t.w), Math.max(t.y - p[1], 0, p[1] - t.y - t.h));
  return items.map((a) => {
    let spaced = true;
    if (small(a)) {
      const c = centre(a);
      for (const b of items) {
        if (b === a || a.el.contains(b.el) || b.el.contains(a.el)) continue;
        const near = small(b) ? Math.hypot(c[0] - centre(b)[0], c[1] - centre(b)[1]) < minimum : distToBox(c, b) < half;
        if (near) { spaced = false; break; }
      }
    }
    return {what: a.what, width: Math.round(a.w * 10) / 10, height: Math.round(a.h * 10) / 10,
            ok: !small(a) || spaced, spacing_exception: small(a) && spaced};
  });
}"""


@contextmanager
def live_server(app: Any, start_timeout_s: float = 60.0) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free local port; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the clinic server did not start in {start_timeout_s:.0f} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def sign_in(page: Any, username: str, password: str) -> None:
    """Sign in on the login page; fails when the server sends the login page back."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in: {page.content()[:500]}"


def start_fundus_visit(page: Any) -> None:
    """On a patient's page: start a fundus visit and wait for its page."""
    page.select_option("select[name=modality]", "fundus")
    page.click("form[action$='/visits'] button[type=submit]")
    page.wait_for_url("**/visits/*")


def axe_path() -> Path | None:
    """axe-core's ``axe.min.js`` as ``make axe`` installs it, or None."""
    return AXE_JS if AXE_JS.is_file() else None


def axe_violations(page: Any, axe_js: Path) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now: rule id, impact, how many elements, the first targets.

    The page's context needs ``bypass_csp=True``: the app's Content-Security-Policy
    (``script-src 'self'``) refuses the inline script that ``add_script_tag`` adds.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_js))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]), "help": v["help"],
             "targets": [" ".join(map(str, n["target"])) for n in v["nodes"][:3]]} for v in result["violations"]]


def tap_targets(page: Any, minimum: int = TARGET_PX) -> list[dict[str, Any]]:
    """Every visible link, button, input, select, textarea and summary: its box and whether it passes the rule."""
    return page.evaluate(_TARGETS_JS, minimum)


def text_overflow(page: Any, scale: float = 2.0) -> dict[str, Any]:
    """Set the text size to ``scale`` × and report the page's width and elements that stick out of the screen.

    The root's and the body's font sizes are both multiplied (a page that fixes
    the body's size in px would otherwise not grow); everything sized in
    ``rem``, ``em`` or % follows them. Undo with :func:`reset_text`.
    """
    return page.evaluate("""(scale) => {
      const root = document.documentElement, body = document.body;
      const sizes = [parseFloat(getComputedStyle(root).fontSize), parseFloat(getComputedStyle(body).fontSize)];
      root.style.fontSize = (sizes[0] * scale) + 'px';
      body.style.fontSize = (sizes[1] * scale) + 'px';
      const width = document.documentElement.clientWidth;
      const out = [];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > width + 1 && !el.closest('.viewer')) {
          out.push(el.tagName.toLowerCase() + (el.classList.length ? '.' + [...el.classList].join('.') : '')
                   + ' right=' + Math.round(r.right));
        }
      }
      const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (texts.nextNode()) {  // text running out of its box (a long word) moves no element's edge
        const range = document.createRange();
        range.selectNodeContents(texts.currentNode);
        const r = range.getBoundingClientRect();
        const parent = texts.currentNode.parentElement;
        if (parent.getBoundingClientRect().width <= 1) continue;  // visually hidden, for screen readers
        if (r.width > 0 && r.right > width + 1 && !parent.closest('.viewer')) {
          out.push('text "' + texts.currentNode.textContent.trim().slice(0, 40) + '" right=' + Math.round(r.right));
        }
      }
      return {scroll_width: document.documentElement.scrollWidth, client_width: width, outside: out.slice(0, 10)};
    }""", scale)


def reset_text(page: Any) -> None:
    """Undo :func:`text_overflow`."""
    page.evaluate("document.documentElement.style.fontSize = ''; document.body.style.fontSize = ''")


def reload_bytes(page: Any, url: str | None = None) -> dict[str, Any]:
    """Reload the page (as the reload button does), or go to ``url``, and count the bytes that came over the network."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    sizes: dict[str, int] = {}
    urls: dict[str, str] = {}
    cached: set[str] = set()

    def received(event: dict[str, Any]) -> None:
        urls[event["requestId"]] = event["response"]["url"]
        if event["response"].get("fromDiskCache"):
            cached.add(event["requestId"])

    cdp.on("Network.responseReceived", received)
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    if url is None:
        page.reload(wait_until="load")
    else:
        page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    cdp.detach()
    per_url = {urls.get(k, k).split("//", 1)[-1].split("/", 1)[-1]: v for k, v in sizes.items() if k not in cached}
    return {"bytes": sum(per_url.values()), "requests": per_url, "from_disk_cache": len(cached)}


def fail_or_skip(message: str) -> NoReturn:
    """Skip with ``message``, or fail under ``CI=true`` where the browser checks must run."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(message + " — the browser checks must run in CI")
    pytest.skip(message)
