"""`asv publish`, then make the site self-contained.

asv's pages load jQuery, flot, Bootstrap and a few plugins from public CDNs: on a network without
them (this one, an air-gapped office) the site shows nothing but "failed to load". The same files,
installed from the npm registry by scripts/setup.sh (site_assets/package.json), are copied
into html/vendor/ and the pages point there instead.

    python -m ect_perf publish [--html-dir html]

It also writes overview.html (ect_perf/overview.py), linked from the top of the index page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from ect_perf import overview

# Outside the package: the checkout's site_assets/ (npm installs there, not into ect_perf/).
ASSETS = Path(__file__).resolve().parent.parent / "site_assets" / "node_modules"

# CDN address in asv's pages -> the same library's file in node_modules.
LOCAL_COPIES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": "flot/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": "flot/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "flot-orderbars/js/jquery.flot.orderBars.js",  # noqa: E501
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "stupid-table-plugin/stupidtable.min.js",  # noqa: E501
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5/js/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
}
# Files the copied ones refer to by relative path (Bootstrap's CSS loads ../fonts/).
COMPANIONS = ["bootstrap/dist/fonts"]

# A script's src or a stylesheet's href on a CDN, with the attributes that only make sense there.
_CDN_REFERENCE = re.compile(
    r'(?P<tag><script\s+src|<link\s+rel="stylesheet"\s+href)="(?P<url>https://[^"]+)"'
    r'(?:\s+integrity="[^"]*")?(?:\s+crossorigin="[^"]*")?(?:\s+referrerpolicy="[^"]*")?'
)


class SiteError(RuntimeError):
    pass


def publish(html_dir: Path, config: str = "asv.conf.json") -> None:
    done = subprocess.run([sys.executable, "-m", "asv", "--config", config, "publish", "--html-dir", str(html_dir)])
    if done.returncode != 0:
        raise SiteError(f"asv publish failed with exit code {done.returncode}")
    localize(html_dir)
    overview.write(html_dir, config)


def localize(html_dir: Path) -> None:
    """Copy the CDN libraries into html_dir/vendor and point every page at the copies."""
    if not ASSETS.is_dir():
        raise SiteError(f"{ASSETS} is missing: run scripts/setup.sh (npm install of the site's libraries)")
    vendor = html_dir / "vendor"
    for relative in [*LOCAL_COPIES.values(), *COMPANIONS]:
        source, target = ASSETS / relative, vendor / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    for page in html_dir.glob("*.html"):
        page.write_text(_CDN_REFERENCE.sub(_local_reference, page.read_text()))


def _local_reference(match: re.Match) -> str:
    url = match["url"]
    if url not in LOCAL_COPIES:
        raise SiteError(f"asv's pages load {url}, which has no local copy: add it to {__name__}.LOCAL_COPIES")
    return f'{match["tag"]}="vendor/{LOCAL_COPIES[url]}"'
