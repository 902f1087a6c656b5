# shellcheck shell=bash
# Shared by install-linux.sh, install-macos.command, uninstall-linux.sh and uninstall-macos.command.
# Sourced, never run. Written for bash 3.2 (macOS's /bin/bash) as well as bash 5: no associative
# arrays, no mapfile, and no "${array[@]}" of a possibly empty array under set -u.
#
# Install for the current user, without root:
#   app      Linux  ${XDG_DATA_HOME:-~/.local/share}/mcpshare/app
#            macOS  ~/Library/Application Support/mcpshare/app
#   command  ~/.local/bin/mcpshare -> <app>/dist/cli.js
#   manifest <app>/../install-manifest.txt: every path the installer created, for the uninstaller
#   login    "mcpshare autostart on" (an XDG autostart entry / a LaunchAgent that starts the tray)

# Node.js the installer accepts: package.json's "engines" (test/installers.test.ts checks they agree).
MCPSHARE_MIN_NODE_MAJOR=20
MCPSHARE_MIN_NODE_MINOR=11
MCPSHARE_NODE_FLAGS=--max-semi-space-size=2
MANIFEST_HEADER='# mcpshare install manifest, format 1: written by the installer, read by the uninstaller.
# "tree P": a folder the installer made, removed with everything in it; "file P", "link P": one file;
# "dir P": a folder that did not exist before the first install, removed at uninstall when empty.'

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Keeps a Terminal window opened by double-clicking a .command file readable until Return.
pause_if_interactive() {
  local rc=$?
  if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
    printf '\nPress Return to close this window. '
    read -r _ || true
  fi
  exit "$rc"
}

# Sets every path for PLATFORM (linux|darwin) from HOME and the XDG variables, as mcpshare does
# (src/registry/paths.ts, src/registry/location.ts, src/tray/autostart.ts).
mcpshare_paths() {
  PLATFORM=$1
  : "${HOME:?HOME is not set}"
  local config_home=${XDG_CONFIG_HOME:-$HOME/.config}
  SECRETS_DIR=$config_home/mcp
  BIN_DIR=$HOME/.local/bin
  LINK=$BIN_DIR/mcpshare
  if [ "$PLATFORM" = darwin ]; then
    APP_PARENT="$HOME/Library/Application Support/mcpshare"
    REGISTRY_DIR=$HOME/Library/Preferences/mcpshare-nodejs
    STATE_DIR=$APP_PARENT
    LOG_DIR=$HOME/Library/Logs/mcpshare
    AUTOSTART_FILE=$HOME/Library/LaunchAgents/dev.mcpshare.tray.plist
    CANDIDATE_DIRS="$HOME/.local
$BIN_DIR
$HOME/Library
$HOME/Library/Application Support
$APP_PARENT
$HOME/Library/LaunchAgents
$HOME/Library/Logs
$LOG_DIR
$HOME/Library/Preferences
$REGISTRY_DIR
$config_home
$SECRETS_DIR"
  else
    # ~/.cache: the tray's GTK makes it (empty) at its first start.
    local data_home=${XDG_DATA_HOME:-$HOME/.local/share}
    local state_home=${XDG_STATE_HOME:-$HOME/.local/state}
    APP_PARENT=$data_home/mcpshare
    REGISTRY_DIR=$config_home/mcpshare
    STATE_DIR=$state_home/mcpshare
    LOG_DIR=$STATE_DIR/logs
    AUTOSTART_FILE=$config_home/autostart/mcpshare-tray.desktop
    CANDIDATE_DIRS="$HOME/.local
$BIN_DIR
$data_home
$APP_PARENT
$state_home
$STATE_DIR
$LOG_DIR
$config_home
$config_home/autostart
$config_home/systemd
$config_home/systemd/user
$REGISTRY_DIR
$SECRETS_DIR
${XDG_CACHE_HOME:-$HOME/.cache}"
  fi
  APP=$APP_PARENT/app
  CLI=$APP/dist/cli.js
  MANIFEST=$APP_PARENT/install-manifest.txt
  BACKUPS_DIR=$STATE_DIR/backups
  TRAY_PID_FILE=$STATE_DIR/tray.pid
  TRAY_LOG=$LOG_DIR/tray.log
}

# Finds node (PATH first; on macOS also Homebrew's and the nodejs.org installer's places): NODE.
find_node() {
  NODE=$(command -v node 2>/dev/null || true)
  if [ -z "$NODE" ] && [ "$PLATFORM" = darwin ]; then
    local c
    for c in /opt/homebrew/bin/node /usr/local/bin/node; do
      if [ -x "$c" ]; then
        NODE=$c
        warn "node is not on your PATH; using $NODE (a terminal needs it on PATH to run \"mcpshare\")"
        PATH=$(dirname "$c"):$PATH
        export PATH
        break
      fi
    done
  fi
}

node_help() {
  if [ "$PLATFORM" = darwin ]; then
    say "Install the current LTS from https://nodejs.org/ (the macOS installer) or with Homebrew: brew install node"
  else
    say "Install the current LTS from https://nodejs.org/ , your distribution's nodejs package if it is new enough, or nvm: nvm install --lts"
  fi
  say "then open a new terminal and run this installer again."
}

# Dies unless NODE is Node.js >= MIN; sets NODE_VERSION and NPM.
check_node() {
  find_node
  if [ -z "$NODE" ]; then
    printf 'error: mcpshare needs Node.js %s.%s or newer, and there is no "node" on your PATH.\n' "$MCPSHARE_MIN_NODE_MAJOR" "$MCPSHARE_MIN_NODE_MINOR" >&2
    node_help >&2
    exit 1
  fi
  NODE_VERSION=$("$NODE" --version 2>/dev/null || true)
  local v=${NODE_VERSION#v} major minor
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%.*}
  case "$major$minor" in '' | *[!0-9]*) major=0 minor=0 ;; esac
  if [ "$major" -lt "$MCPSHARE_MIN_NODE_MAJOR" ] || { [ "$major" -eq "$MCPSHARE_MIN_NODE_MAJOR" ] && [ "$minor" -lt "$MCPSHARE_MIN_NODE_MINOR" ]; }; then
    printf 'error: mcpshare needs Node.js %s.%s or newer; %s is %s.\n' "$MCPSHARE_MIN_NODE_MAJOR" "$MCPSHARE_MIN_NODE_MINOR" "$NODE" "${NODE_VERSION:-not a working node}" >&2
    node_help >&2
    exit 1
  fi
  NPM=$(dirname "$NODE")/npm
  [ -x "$NPM" ] || NPM=$(command -v npm 2>/dev/null || true)
  [ -n "$NPM" ] || die "npm is missing (it comes with Node.js): reinstall Node.js from https://nodejs.org/"
}

# Runs this installation's CLI with the flags every mcpshare process runs with.
run_cli() { "$NODE" "$MCPSHARE_NODE_FLAGS" "$CLI" "$@"; }

# The last lines of a file, indented (or a note that it is empty or missing).
show_tail() {
  if [ -s "$1" ]; then
    # uniq: a tray that mirrors its log to stderr, which goes to the same file, doubles every line.
    tail -n "$((${2:-15} * 2))" "$1" | uniq | tail -n "${2:-15}" | sed 's/^/    /'
  else
    say "    ($1 is empty or missing)"
  fi
}

# True when PID runs "… tray" (a pid file can outlive its process and the pid be reused).
pid_is_tray() {
  local args
  args=$(ps -o args= -p "$1" 2>/dev/null) || return 1
  case " $args " in *" tray "*) return 0 ;; *) return 1 ;; esac
}

# Stops a running tray through its pid file (for CLIs that have no "tray --quit").
stop_tray_by_pid_file() {
  [ -f "$TRAY_PID_FILE" ] || return 0
  local pid i
  pid=$(tr -cd '0-9' <"$TRAY_PID_FILE")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && pid_is_tray "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    say "stopped the tray (pid $pid)"
  fi
  rm -f "$TRAY_PID_FILE"
}

# Stops the tray of the installation at $CLI; with "--stop-daemons", its daemons too.
# Sets TRAY_QUIT_STOPPED_DAEMONS=yes when the CLI did that.
stop_tray() {
  TRAY_QUIT_STOPPED_DAEMONS=no
  local rc=0
  if [ -f "$CLI" ] && [ -n "${NODE:-}" ]; then
    run_cli tray --quit "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
      [ "$#" -gt 0 ] && TRAY_QUIT_STOPPED_DAEMONS=yes
      return 0
    fi
    if [ "$rc" -eq 2 ]; then
      say "(this version of mcpshare has no \"tray --quit\": stopping the tray by its pid file)"
    else
      warn "\"mcpshare tray --quit $*\" failed (exit $rc); stopping the tray by its pid file"
    fi
  fi
  stop_tray_by_pid_file
}

# Asks the built-in supervisor (if one runs) to stop its daemons and exit, and waits for it.
stop_supervisor() {
  local sock=$STATE_DIR/supervisor.sock state=$STATE_DIR/supervisor.json pid="" i
  [ -S "$sock" ] || return 0
  [ -n "${NODE:-}" ] || return 0
  if [ -f "$state" ]; then
    pid=$("$NODE" -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).pid || "")) } catch {}' "$state" || true)
  fi
  # The supervisor's control protocol (src/units/supervisor-control.ts): one JSON line per request.
  if "$NODE" -e '
    const c = require("net").connect(process.argv[1]);
    const t = setTimeout(() => process.exit(2), 5000);
    c.on("connect", () => c.write(JSON.stringify({ op: "shutdown" }) + "\n"));
    c.on("data", () => { clearTimeout(t); c.end(); process.exit(0); });
    c.on("error", () => process.exit(1));
  ' "$sock"; then
    if [ -n "$pid" ]; then
      for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
      done
      if kill -0 "$pid" 2>/dev/null; then
        warn "the mcpshare supervisor (pid $pid) did not exit within 15 s"
      fi
    fi
    say "stopped the built-in supervisor${pid:+ (pid $pid)}"
  fi
}

# Reads the "dir" entries of an existing manifest (one per line) into OLD_DIRS.
read_manifest_dirs() {
  OLD_DIRS=""
  [ -f "$MANIFEST" ] || return 0
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in "dir "*) OLD_DIRS="$OLD_DIRS${line#dir }
" ;; esac
  done <"$MANIFEST"
}

# KIND PATH lines of the manifest, for the uninstaller: prints the paths of one KIND.
manifest_paths() {
  [ -f "$MANIFEST" ] || return 0
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in "$1 "*) printf '%s\n' "${line#"$1" }" ;; esac
  done <"$MANIFEST"
}

# ------------------------------------------------------------------------------------------------
# install
# ------------------------------------------------------------------------------------------------

install_usage() {
  cat <<EOF
Usage: $1 [--no-tray] [--no-autostart] [--build]

Installs mcpshare for you (no root) from the checkout this installer is in:
  app      $APP
  command  $LINK
and starts the mcpshare tray at every login ("mcpshare autostart on") and now.
Running it again upgrades the installation in place.

  --no-tray       do not start the tray now (it still starts at your next login)
  --no-autostart  do not start the tray at login
  --build         rebuild dist/ in the checkout first (npm ci && npm run build); done anyway when
                  dist/ is missing
EOF
}

# mcpshare_install PLATFORM SOURCE_DIR SCRIPT_NAME [ARGS...]
mcpshare_install() {
  local platform=$1 src=$2 script=$3
  shift 3
  mcpshare_paths "$platform"
  local start_tray=yes autostart=yes build=no
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --no-tray) start_tray=no ;;
      --no-autostart) autostart=no ;;
      --build) build=yes ;;
      -h | --help)
        install_usage "$script"
        return 0
        ;;
      *)
        install_usage "$script" >&2
        die "unknown option \"$1\""
        ;;
    esac
    shift
  done

  check_node
  [ -f "$src/package.json" ] && grep -q '"name": *"mcpshare"' "$src/package.json" ||
    die "$src is not an mcpshare checkout (no package.json naming mcpshare): run the installer from its installers/ folder"

  step "Node.js $NODE_VERSION ($NODE)"
  if [ "$build" = yes ] || [ ! -f "$src/dist/cli.js" ]; then
    step "Building mcpshare in $src (npm ci && npm run build)"
    [ -f "$src/package-lock.json" ] || die "$src has no dist/ and no package-lock.json to build it from"
    (cd "$src" && "$NPM" ci --no-audit --no-fund --no-update-notifier && "$NPM" run build) ||
      die "the build failed (output above); fix it, or install from a package that ships dist/"
  fi
  local version
  version=$("$NODE" -p 'require(process.argv[1]).version' "$src/package.json")

  local upgrading=no old_version=""
  if [ -f "$CLI" ]; then
    upgrading=yes
    old_version=$(run_cli --version 2>/dev/null || echo unknown)
    step "Upgrading mcpshare $old_version to $version in $APP"
  else
    step "Installing mcpshare $version into $APP"
  fi

  # The manifest first (so an interrupted install can be uninstalled): the folders that do not
  # exist yet, plus those an earlier install recorded.
  read_manifest_dirs
  local new_dirs="" d
  while IFS= read -r d; do
    [ -n "$d" ] || continue
    if [ ! -e "$d" ]; then new_dirs="$new_dirs$d
"; fi
  done <<EOF
$CANDIDATE_DIRS
EOF
  mkdir -p "$APP_PARENT"
  {
    say "$MANIFEST_HEADER"
    say "platform $PLATFORM"
    say "version $version"
    say "source $src"
    say "tree $APP"
    say "link $LINK"
    say "file $AUTOSTART_FILE"
    say "file $MANIFEST"
    printf '%s%s' "$OLD_DIRS" "$new_dirs" | awk 'NF && !seen[$0]++ { print "dir " $0 }'
  } >"$MANIFEST.tmp"
  mv -f "$MANIFEST.tmp" "$MANIFEST"

  # A new copy beside the old one; it replaces the old only once it is complete and runs.
  local stage=$APP_PARENT/app.new old=$APP_PARENT/app.old
  rm -rf "$stage" "$old"
  mkdir -p "$stage"
  local f
  for f in package.json package-lock.json README.md LICENSE dist assets installers; do
    if [ -e "$src/$f" ]; then cp -R "$src/$f" "$stage/"; fi
  done
  if [ -f "$APP/package-lock.json" ] && [ -d "$APP/node_modules" ] && cmp -s "$APP/package-lock.json" "$stage/package-lock.json"; then
    say "dependencies unchanged: copying them from the current installation"
    cp -R "$APP/node_modules" "$stage/"
  elif [ -f "$stage/package-lock.json" ]; then
    say "installing dependencies (npm ci --omit=dev)"
    (cd "$stage" && "$NPM" ci --omit=dev --no-audit --no-fund --prefer-offline --no-update-notifier) ||
      die "npm ci failed (output above); the previous installation, if any, is untouched"
  else
    say "installing dependencies (npm install --omit=dev)"
    (cd "$stage" && "$NPM" install --omit=dev --no-audit --no-fund --prefer-offline --no-update-notifier --no-package-lock) ||
      die "npm install failed (output above); the previous installation, if any, is untouched"
  fi
  local got
  got=$("$NODE" "$MCPSHARE_NODE_FLAGS" "$stage/dist/cli.js" --version 2>&1) || die "the new copy does not run: $got"
  # The running tray runs the old copy: stop it now (it is started again below).
  if [ "$upgrading" = yes ]; then stop_tray; fi
  if [ -d "$APP" ]; then mv "$APP" "$old"; fi
  mv "$stage" "$APP"
  rm -rf "$old"
  say "installed $APP"

  step "Command: $LINK"
  mkdir -p "$BIN_DIR"
  if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
    warn "$LINK exists and is not a link: left as it is. Run mcpshare as: $CLI"
  else
    rm -f "$LINK"
    ln -s "$CLI" "$LINK"
    say "$LINK -> $CLI"
  fi
  case ":$PATH:" in
    *":$BIN_DIR:"*)
      local found
      found=$(command -v mcpshare 2>/dev/null || true)
      if [ -n "$found" ] && [ "$found" != "$LINK" ]; then
        warn "\"mcpshare\" in your terminal runs $found, which comes before $BIN_DIR on your PATH"
      fi
      ;;
    *)
      local rc_file=~/.profile
      case "${SHELL:-}" in
        */zsh) rc_file=~/.zprofile ;;
        */bash) if [ "$PLATFORM" = darwin ]; then rc_file=~/.bash_profile; else rc_file=~/.bashrc; fi ;;
      esac
      say "$BIN_DIR is not on your PATH. To run \"mcpshare\" in a terminal, add this line to $rc_file"
      say "and open a new terminal:"
      # shellcheck disable=SC2016
      say '    export PATH="$HOME/.local/bin:$PATH"'
      ;;
  esac

  local tray_loaded_by_launchd=no
  if [ "$autostart" = yes ]; then
    step "Start the tray at login"
    # On macOS loading the LaunchAgent starts the tray: with --no-tray, only write it.
    if autostart_on "$start_tray"; then
      if [ "$PLATFORM" = darwin ] && [ "$start_tray" = yes ]; then tray_loaded_by_launchd=yes; fi
    else
      warn "\"mcpshare autostart on\" failed (above): the tray will not start at login; try again later with: mcpshare autostart on"
    fi
  fi

  if [ "$start_tray" = yes ]; then
    step "Starting the tray"
    start_tray_now "$tray_loaded_by_launchd"
  fi

  step "mcpshare $version is installed"
  say "  command:    $LINK"
  say "  app:        $APP"
  say "  next:       mcpshare import --project DIR   (or: mcpshare add NAME -- COMMAND ARGS...)"
  say "              mcpshare start --all && mcpshare apply --project DIR"
  say "  uninstall:  $APP/installers/$(uninstaller_name)"
  if [ "$upgrading" = yes ]; then
    say "  running daemons keep the previous version until they restart: mcpshare restart --all"
  fi
  return 0
}

autostart_on() {
  if [ "$PLATFORM" = darwin ] && [ "$1" = no ]; then run_cli autostart on --no-start; else run_cli autostart on; fi
}

uninstaller_name() { if [ "$PLATFORM" = darwin ]; then echo uninstall-macos.command; else echo uninstall-linux.sh; fi; }

# The tray logs "tray started (pid N, …" once its icon is shown.
tray_ready() { [ -f "$TRAY_LOG" ] && grep -q "tray started (pid $1," "$TRAY_LOG"; }

# Starts the tray in the background (or, on macOS, waits for the one launchd started) and says
# whether it runs. Never fails the install: a machine without a desktop cannot show a tray.
start_tray_now() {
  local by_launchd=$1 pid="" rc="" i
  if [ "$PLATFORM" != darwin ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    say "no graphical session here (DISPLAY and WAYLAND_DISPLAY are unset): not starting the tray now."
    say "It starts at your next desktop login; or run \"mcpshare tray\" from a terminal of your desktop."
    return 0
  fi
  mkdir -p "$LOG_DIR"
  chmod 700 "$LOG_DIR" 2>/dev/null || true
  if [ "$by_launchd" = yes ]; then
    # launchd started it (RunAtLoad): wait until it logs that its icon is up (the pid file comes
    # first, as its lock; starting the binary and the daemons takes a few seconds more).
    for i in $(seq 1 60); do
      if [ -f "$TRAY_PID_FILE" ]; then
        pid=$(tr -cd '0-9' <"$TRAY_PID_FILE")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tray_ready "$pid"; then break; fi
        pid=""
      fi
      sleep 0.25
    done
    if [ -n "$pid" ]; then
      say "the tray is running (pid $pid, started by launchd); its log: $TRAY_LOG"
    else
      say "the tray did not start within 15 s. Last lines of $TRAY_LOG:"
      show_tail "$TRAY_LOG"
      say "The daemons are not affected. \"mcpshare tray\" in a terminal shows why it cannot start."
    fi
    return 0
  fi
  # Its own session (setsid): closing this terminal does not stop it.
  if command -v setsid >/dev/null 2>&1; then
    setsid "$NODE" "$MCPSHARE_NODE_FLAGS" "$CLI" tray >>"$TRAY_LOG" 2>&1 </dev/null &
  else
    nohup "$NODE" "$MCPSHARE_NODE_FLAGS" "$CLI" tray >>"$TRAY_LOG" 2>&1 </dev/null &
  fi
  pid=$!
  # Until it logs that its icon is up, or exits (no display, a missing library, already running).
  for i in $(seq 1 60); do
    sleep 0.25
    if ! kill -0 "$pid" 2>/dev/null; then
      rc=0
      wait "$pid" || rc=$?
      break
    fi
    tray_ready "$pid" && break
  done
  if [ -z "$rc" ]; then
    say "the tray is running (pid $pid); its log: $TRAY_LOG"
  elif [ "$rc" -eq 0 ]; then
    # "already running" exits 0.
    say "the tray exited at once (exit 0). Last lines of $TRAY_LOG:"
    show_tail "$TRAY_LOG" 5
  else
    say "the tray did not start (exit $rc). Last lines of $TRAY_LOG:"
    show_tail "$TRAY_LOG"
    say "The daemons are not affected; the tray starts again at your next login, or run: mcpshare tray"
  fi
  return 0
}

# ------------------------------------------------------------------------------------------------
# uninstall
# ------------------------------------------------------------------------------------------------

uninstall_usage() {
  cat <<EOF
Usage: $1 [--keep-servers] [--yes]

Removes mcpshare for you: stops the tray and the daemons, reverts every client config mcpshare
changed ("mcpshare revert --all"), removes every registered server ("mcpshare remove NAME": its
unit, registry entry and env file), the login entry, the command $LINK,
the app $APP and mcpshare's own settings, state and logs.
Folders the installer created are removed when empty. It says what it kept, and why.

  --keep-servers  keep the registry, units, env files and logs (the daemons are stopped; their
                  units run the app this removes, so they cannot start until you reinstall)
  --yes           do not ask for confirmation (it asks only in an interactive terminal)
EOF
}

# mcpshare_uninstall PLATFORM SCRIPT_NAME [ARGS...]
mcpshare_uninstall() {
  local platform=$1 script=$2
  shift 2
  mcpshare_paths "$platform"
  local keep_servers=no yes=no
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --keep-servers) keep_servers=yes ;;
      --yes | -y) yes=yes ;;
      -h | --help)
        uninstall_usage "$script"
        return 0
        ;;
      *)
        uninstall_usage "$script" >&2
        die "unknown option \"$1\""
        ;;
    esac
    shift
  done

  if [ ! -f "$MANIFEST" ] && [ ! -d "$APP" ]; then
    say "mcpshare is not installed for $(id -un 2>/dev/null || echo you) (no $MANIFEST, no $APP): nothing to do."
    return 0
  fi
  [ -f "$MANIFEST" ] || warn "no install manifest ($MANIFEST): removing the app and mcpshare's files, but no other folders"

  if [ "$yes" = no ] && [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
    if [ "$keep_servers" = yes ]; then
      say "This removes the mcpshare app and its command, and stops the daemons (their settings are kept)."
    else
      say "This removes mcpshare with every server you registered in it, and reverts client configs."
    fi
    printf 'Continue? [y/N] '
    local answer=""
    read -r answer || true
    case "$answer" in y | Y | yes | YES) ;; *)
      say "nothing removed."
      return 1
      ;;
    esac
  fi

  # Read before anything is removed: folders that did not exist before the first install.
  local manifest_dirs
  manifest_dirs=$(manifest_paths dir)
  find_node
  local have_cli=no failures=0 kept="" reverted=no servers_removed=yes keep_data=no
  if [ -n "$NODE" ] && [ -f "$CLI" ] && run_cli --version >/dev/null 2>&1; then
    have_cli=yes
  else
    warn "cannot run $CLI (node missing, or the app broken or already removed): removing the app only. Servers' units, settings and client configs are left as they are; to remove them too, install mcpshare again and run this uninstaller without --keep-servers."
    servers_removed=no
  fi

  step "Stopping the tray"
  if [ "$have_cli" = yes ]; then stop_tray --stop-daemons; else stop_tray_by_pid_file; fi

  if [ "$have_cli" = yes ]; then
    step "Reverting client configs (mcpshare revert --all)"
    local rc=0 err
    err=$(mktemp "${TMPDIR:-/tmp}/mcpshare-uninstall.XXXXXX")
    run_cli revert --all 2>"$err" || rc=$?
    cat "$err" >&2
    if [ "$rc" -eq 0 ]; then
      reverted=yes
    elif [ "$rc" -eq 2 ]; then
      say "this version of mcpshare cannot revert every config at once (\"revert --all\": $(head -n 1 "$err"))."
    else
      say "mcpshare revert --all reported problems (above)."
    fi
    rm -f "$err"
    if [ "$reverted" = no ]; then
      if [ -d "$BACKUPS_DIR" ]; then
        say "Configs switched with \"mcpshare apply\" may still point at the daemons; the backups taken"
        say "before each apply are kept in $BACKUPS_DIR"
        kept="$kept  $BACKUPS_DIR: backups of the client configs taken before each \"mcpshare apply\" (revert did not fully succeed)
"
      else
        say "no apply on record (no backups in $BACKUPS_DIR): no client config to revert."
        reverted=yes
      fi
    fi

    local names
    if ! names=$(run_cli list --json | "$NODE" -e 'for (const e of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(e.name)'); then
      warn "could not read the registry (above)"
      names=""
      servers_removed=no
      failures=$((failures + 1))
    fi
    if [ "$keep_servers" = yes ]; then
      step "Stopping the daemons (--keep-servers: their registry entries, units and env files stay)"
      if [ -n "$names" ]; then
        if [ "$TRAY_QUIT_STOPPED_DAEMONS" = no ]; then run_cli stop --all || warn "some daemons did not stop (above)"; fi
        keep_data=yes
      else
        say "no servers registered"
      fi
    else
      step "Removing the registered servers"
      local name
      if [ -z "$names" ]; then say "no servers registered"; fi
      while IFS= read -r name; do
        [ -n "$name" ] || continue
        if ! run_cli remove "$name"; then
          warn "could not remove \"$name\" (above)"
          servers_removed=no
          failures=$((failures + 1))
        fi
      done <<EOF
$names
EOF
    fi
    stop_supervisor
  fi

  step "Login autostart"
  if [ "$have_cli" = yes ] && run_cli autostart off; then
    :
  else
    [ "$have_cli" = yes ] && warn "\"mcpshare autostart off\" failed (above): removing the file directly"
    if [ "$PLATFORM" = darwin ] && command -v launchctl >/dev/null 2>&1; then
      launchctl bootout "gui/$(id -u)/dev.mcpshare.tray" 2>/dev/null || true
    fi
    local f
    while IFS= read -r f; do
      case "$f" in "$MANIFEST") ;; *) if [ -f "$f" ]; then rm -f "$f" && say "removed $f"; fi ;; esac
    done <<EOF
$(manifest_paths file)
EOF
  fi

  step "Removing the app"
  if [ -L "$LINK" ]; then
    case "$(readlink "$LINK")" in
      "$APP"/*)
        rm -f "$LINK"
        say "removed $LINK"
        ;;
      *) say "kept $LINK: it points somewhere else ($(readlink "$LINK"))" ;;
    esac
  fi
  rm -rf "$APP" "$APP_PARENT/app.new" "$APP_PARENT/app.old"
  say "removed $APP"

  if [ "$keep_data" = yes ]; then
    kept="$kept  the servers' registry ($REGISTRY_DIR), env files ($SECRETS_DIR), units, state and logs ($STATE_DIR, $LOG_DIR): --keep-servers. Their units run $CLI, which is gone: reinstall mcpshare to start them again.
"
  elif [ "$servers_removed" = yes ]; then
    step "Removing mcpshare's settings, state and logs"
    local keep_backups=""
    [ "$reverted" = yes ] || keep_backups=$BACKUPS_DIR
    remove_tree_except "$REGISTRY_DIR" ""
    remove_tree_except "$LOG_DIR" ""
    remove_tree_except "$STATE_DIR" "$keep_backups"
  else
    local d
    for d in "$REGISTRY_DIR" "$STATE_DIR" "$LOG_DIR"; do
      if [ -d "$d" ]; then kept="$kept  $d: not every server could be removed (above), so mcpshare's settings and state stay
"; fi
    done
  fi
  if [ "$keep_data" = yes ] || [ "$servers_removed" = no ]; then
    # What stays will want these folders removed by a later uninstall: keep only their list.
    {
      say "$MANIFEST_HEADER"
      say "platform $PLATFORM"
      printf '%s\n' "$manifest_dirs" | awk 'NF { print "dir " $0 }'
    } >"$MANIFEST.tmp" && mv -f "$MANIFEST.tmp" "$MANIFEST"
    kept="$kept  $MANIFEST: the folders the installer created, for the next install or uninstall
"
  else
    rm -f "$MANIFEST"
  fi

  # Folders that did not exist before the first install, deepest first, when empty.
  local d
  while IFS= read -r d; do
    [ -n "$d" ] || continue
    if [ -d "$d" ] && [ ! -L "$d" ]; then rmdir "$d" 2>/dev/null || true; fi
  done <<EOF
$(printf '%s\n%s\n' "$manifest_dirs" "$APP_PARENT" | sort -ru)
EOF

  step "mcpshare is uninstalled"
  if [ -n "$kept" ]; then
    say "Kept:"
    printf '%s' "$kept"
  else
    say "Nothing of mcpshare's is left."
  fi
  [ "$failures" -eq 0 ]
}

# rm -rf DIR, except KEEP (an entry directly inside it; empty: nothing kept).
remove_tree_except() {
  local dir=$1 keep=$2 entry
  [ -d "$dir" ] || return 0
  if [ -z "$keep" ] || [ ! -e "$keep" ]; then
    rm -rf "$dir"
    say "removed $dir"
    return 0
  fi
  for entry in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    [ "$entry" = "$keep" ] && continue
    rm -rf "$entry"
  done
  say "removed $dir (except $keep)"
}
