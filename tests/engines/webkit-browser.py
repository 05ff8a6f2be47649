#!/usr/bin/python3
"""A minimal WebKitGTK browser for WebDriver with an on-disk profile: the normal-Safari case.

WebKitWebDriver's stock browser (MiniBrowser --automation) keeps every site's data in an ephemeral
store, which is what Safari's private mode does. This one keeps it in the folder given by
TAPESYNC_WEBKIT_PROFILE (or a new temporary folder), so IndexedDB, its Blob files and quota behave as
in Safari: a reload, or a second page, sees what the first one stored on disk.

WebKitWebDriver starts it (the capability `webkitgtk:browserOptions: {binary: <this file>}`) with
WEBKIT_INSPECTOR_SERVER set and no arguments; the web context then accepts the driver's automation
session and makes a window for each view the driver asks for. Started by hand, it opens the URLs given.
"""
import os
import sys
import tempfile

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import Gtk, WebKit2  # noqa: E402

profile = os.environ.get("TAPESYNC_WEBKIT_PROFILE") or tempfile.mkdtemp(prefix="tapesync-webkit-")
# TAPESYNC_WEBKIT_ORIGIN_STORAGE_RATIO: each site's quota as a share of the volume (the quota tests).
ratio = os.environ.get("TAPESYNC_WEBKIT_ORIGIN_STORAGE_RATIO")
manager = WebKit2.WebsiteDataManager(
    base_data_directory=os.path.join(profile, "data"),
    base_cache_directory=os.path.join(profile, "cache"),
    **({"origin_storage_ratio": float(ratio)} if ratio else {}),
)
context = WebKit2.WebContext(website_data_manager=manager)
automated = "WEBKIT_INSPECTOR_SERVER" in os.environ
context.set_automation_allowed(automated)
views = []


def create_view(_session):
    view = WebKit2.WebView(web_context=context, is_controlled_by_automation=True)
    window = Gtk.Window()
    window.set_default_size(1024, 768)
    window.add(view)
    window.show_all()
    # A window the driver closes ends its view; the browser ends with the driver's session.
    views.append(view)
    return view


def automation_started(_context, session):
    info = WebKit2.ApplicationInfo()
    info.set_name("tapesync-webkit")
    info.set_version(1, 0, 0)
    session.set_application_info(info)
    session.connect("create-web-view", create_view)


context.connect("automation-started", automation_started)
if not automated:
    # By hand: open the URLs given, for looking at a page with an on-disk profile.
    for url in [a for a in sys.argv[1:] if not a.startswith("-")]:
        create_view(None).load_uri(url)
Gtk.main()
