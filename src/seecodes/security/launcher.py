"""Launch URLs and the HTTPS launcher page.

The page escapes every value, reads the target URL from an escaped attribute instead of writing
it into script, runs only a nonce'd inline script under a strict CSP, sends no Referer, is never
cached, and passes `baseUrl` through only when it is in the operator's allow-list. A project or
task id of "." or ".." is refused: no browser would open the URL it names.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlencode

from seecodes.errors import InvalidInput

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


def vscode_url(
    extension_id: str,
    project_id: str,
    task_id: str,
    code: str,
    *,
    scheme: str = "vscode",
    extra: dict[str, str] | None = None,
) -> str:
    path = f"/project/{_path_segment(project_id)}/task/{_path_segment(task_id)}"
    return f"{scheme}://{extension_id}{path}?{urlencode({'code': code, **(extra or {})})}"


# Browsers resolve "." and ".." path segments (WHATWG URL, for vscode:// as for http://) before
# the editor sees the URL, so project ".." would open `vscode://…/task/AUTH-128`, not the task the
# link names; the headless-chromium test caught it. Quoting cannot help ("%2E" is a dot segment
# too). Minted links never carry such ids (JiraId starts with a letter or digit), but /v1/launch
# takes any string, so the URL builder refuses them.
_DOT_SEGMENTS = frozenset({".", ".."})


def _path_segment(value: str) -> str:
    if value in _DOT_SEGMENTS:
        raise InvalidInput(
            "A project or task id cannot be '.' or '..': a browser would drop it from the URL."
        )
    return quote(value, safe="")


def https_url(public_base_url: str, project_id: str, task_id: str, code: str) -> str:
    return f"{public_base_url}/v1/launch?{urlencode({'p': project_id, 't': task_id, 'c': code})}"


def allowed_base_url(base_url: str | None, allowlist: list[str]) -> str | None:
    if not base_url:
        return None
    normalized = base_url.strip().rstrip("/")
    return normalized if normalized in allowlist else None


def language_tag(value: str | None) -> str | None:
    return value if value and _LANGUAGE_TAG.match(value) else None


@dataclass(frozen=True, slots=True)
class LauncherPage:
    html: str
    headers: dict[str, str]


def render_launcher(
    *,
    extension_id: str,
    project_id: str,
    task_id: str,
    code: str,
    base_url: str | None,
    status_language: str | None,
    allowlist: list[str],
) -> LauncherPage:
    extra = {}
    if (kept_base_url := allowed_base_url(base_url, allowlist)) is not None:
        extra["baseUrl"] = kept_base_url
    if (language := language_tag(status_language)) is not None:
        extra["statusLanguage"] = language
    vscode = vscode_url(extension_id, project_id, task_id, code, extra=extra)
    cursor = vscode_url(extension_id, project_id, task_id, code, scheme="cursor", extra=extra)
    nonce = secrets.token_urlsafe(16)
    html = _PAGE.format(
        nonce=nonce,
        task=escape(task_id),
        project=escape(project_id),
        vscode=escape(vscode, quote=True),
        cursor=escape(cursor, quote=True),
    )
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return LauncherPage(html, headers)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Opening {task} in your editor</title>
<style nonce="{nonce}">
body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; color: #172b4d; }}
a.button {{ display: inline-block; padding: .6rem 1rem; border-radius: 4px; background: #0c66e4; color: #fff;
  text-decoration: none; margin: .25rem 0; }}
a.secondary {{ background: #f1f2f4; color: #172b4d; }}
.note {{ color: #626f86; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<h1>Opening <span id="task">{task}</span></h1>
<p>Project <span id="project">{project}</span>. Your editor should open in a moment.</p>
<p><a id="open-vscode" class="button" href="{vscode}" rel="noreferrer noopener">Open in VS Code</a></p>
<p><a id="open-cursor" class="button secondary" href="{cursor}" rel="noreferrer noopener">Open in Cursor</a></p>
<p class="note">This link works once. If your editor says it was already used, open the task from Jira again.</p>
</main>
<script nonce="{nonce}">window.location.replace(document.getElementById("open-vscode").href);</script>
</body>
</html>
"""
