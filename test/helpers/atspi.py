#!/usr/bin/python3
# Reads a headless desktop's GTK widgets through AT-SPI for test/helpers/desktop.ts.
# Run it with Debian's /usr/bin/python3 (gir1.2-atspi-2.0 + python3-gi), NOT a pyenv/venv python,
# under the app's DISPLAY and DBUS_SESSION_BUS_ADDRESS: GTK3 apps register on the a11y bus that
# at-spi2-core D-Bus-activates on that session bus.
#
#   atspi.py menu [APP]   the popup menu(s) of every application named APP (default
#                         tray_linux_release), flattened in tree order:
#                         {"apps":[...], "items":[{role,name,enabled,visible,showing,x,y,w,h,depth,path,parent}]}
#                         A GTK menu is in the tree only while it is open; a closed menu gives no items.
#   atspi.py text         every top-level window of every application with the text of its text
#                         widgets and labels: {"apps":[...], "windows":[{app,role,name,texts:[...]}]}
#
# Always prints one JSON object on stdout; exit 0 unless AT-SPI itself failed.
import json
import sys

import gi

gi.require_version('Atspi', '2.0')
from gi.repository import Atspi  # noqa: E402

# A hung application must not hang the test: 3 s per AT-SPI call (default is D-Bus's 25 s).
Atspi.set_timeout(3000, 3000)

MENU_ROLES = ('menu item', 'menu', 'check menu item', 'radio menu item', 'separator', 'tearoff menu item')
TEXT_ROLES = ('text', 'label', 'paragraph', 'entry', 'password text', 'terminal')


def apps():
    desk = Atspi.get_desktop(0)
    found = []
    for i in range(desk.get_child_count()):
        a = desk.get_child_at_index(i)
        if a is not None:
            found.append(a)
    return found


def children(node):
    out = []
    try:
        n = node.get_child_count()
    except Exception:
        return out
    for i in range(n):
        try:
            c = node.get_child_at_index(i)
        except Exception:
            c = None
        if c is not None:
            out.append((i, c))
    return out


def item_of(node, path, depth, parent):
    st = node.get_state_set()
    e = node.get_extents(Atspi.CoordType.SCREEN)  # screen pixels; meaningful only while showing
    return {
        'role': node.get_role_name(), 'name': node.get_name() or '',
        'enabled': st.contains(Atspi.StateType.ENABLED), 'visible': st.contains(Atspi.StateType.VISIBLE),
        'showing': st.contains(Atspi.StateType.SHOWING),
        'x': e.x, 'y': e.y, 'w': e.width, 'h': e.height, 'depth': depth, 'path': path, 'parent': parent,
    }


def menu_items(app_name):
    items = []
    names = []
    for ai, app in enumerate(apps()):
        name = app.get_name()
        names.append(name)
        if name != app_name:
            continue

        # window -> menu (the popup itself, not listed) -> items; an item of role "menu" is a
        # submenu parent whose children are one level deeper.
        def walk_menu(menu, path, depth, parent):
            for i, c in children(menu):
                role = c.get_role_name()
                if role not in MENU_ROLES:
                    continue
                it = item_of(c, path + [i], depth, parent)
                items.append(it)
                if role == 'menu':
                    walk_menu(c, path + [i], depth + 1, it['name'])

        def find_menus(node, path):
            for i, c in children(node):
                if c.get_role_name() == 'menu':
                    walk_menu(c, path + [i], 0, None)
                else:
                    find_menus(c, path + [i])

        find_menus(app, [ai])
    return {'apps': names, 'items': items}


def text_of(node):
    try:
        t = node.get_text_iface()
        if t is None:
            return None
        return Atspi.Text.get_text(t, 0, Atspi.Text.get_character_count(t))
    except Exception:
        return None


def window_texts():
    windows = []
    names = []
    for app in apps():
        app_name = app.get_name()
        names.append(app_name)
        for _, win in children(app):
            texts = []

            def walk(node, level):
                if level > 40:
                    return
                for _, c in children(node):
                    if c.get_role_name() in TEXT_ROLES:
                        s = text_of(c)
                        if s:
                            texts.append(s)
                    walk(c, level + 1)

            walk(win, 0)
            windows.append({'app': app_name, 'role': win.get_role_name(), 'name': win.get_name() or '', 'texts': texts})
    return {'apps': names, 'windows': windows}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else 'menu'
    if mode == 'menu':
        result = menu_items(sys.argv[2] if len(sys.argv) > 2 else 'tray_linux_release')
    elif mode == 'text':
        result = window_texts()
    else:
        print(json.dumps({'error': f'unknown mode {mode!r}'}))
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == '__main__':
    sys.exit(main())
