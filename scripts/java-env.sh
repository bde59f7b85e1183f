# Sourced by ./jdiffusion and ./run-tests: finds a JDK >= 25 and exports JAVA_HOME.
# Order: $JAVA_HOME, then `java` on PATH, then the usual install folders. Says what to install when none.
# JDIFFUSION_JDK_DIRS, when set, replaces the usual install folders: JDK folders separated by ':' (tests use it).
# Runs on macOS's bash 3.2 too: no readlink -f, no empty "${array[@]}" under set -u.

jd_resolve() {  # prints $1 with its symlinks followed, as readlink -f would (missing on macOS before 12.3)
  local p="$1" l d
  while [ -L "$p" ]; do
    l=$(readlink "$p")
    case "$l" in /*) p=$l ;; *) p=$(dirname "$p")/$l ;; esac
  done
  if d=$(cd "$(dirname "$p")" 2>/dev/null && pwd -P); then printf '%s/%s\n' "$d" "${p##*/}"; else printf '%s\n' "$p"; fi
}

jd_java_major() {  # prints the feature version of the JDK at $1 (0 when it is not a JDK)
  local home="$1" v
  [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || { echo 0; return; }
  v=$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1)
  case "$v" in 1.*) v=${v#1.}; v=${v%%.*} ;; esac
  [[ "$v" =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}

jd_find_jdk() {
  local min=25 cand
  local -a cands=() dirs=()
  [ -n "${JAVA_HOME:-}" ] && cands+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    cand=$(dirname "$(dirname "$(jd_resolve "$(command -v java)")")")
    cands+=("$cand")
  fi
  if [ -n "${JDIFFUSION_JDK_DIRS+set}" ]; then
    IFS=: read -r -a dirs <<<"$JDIFFUSION_JDK_DIRS" || true
  else
    dirs=(/usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* /opt/homebrew/opt/openjdk*/libexec/openjdk.jdk/Contents/Home
          /usr/local/opt/openjdk*/libexec/openjdk.jdk/Contents/Home /Library/Java/JavaVirtualMachines/*/Contents/Home
          "${HOME:-}"/.sdkman/candidates/java/* "${HOME:-}"/.jdks/* "${HOME:-}"/.asdf/installs/java/*)
  fi
  for cand in ${dirs[@]+"${dirs[@]}"}; do
    [ -d "$cand" ] && cands+=("$cand")
  done
  for cand in ${cands[@]+"${cands[@]}"}; do
    if [ "$(jd_java_major "$cand")" -ge "$min" ]; then
      echo "$cand"
      return 0
    fi
  done
  return 1
}

if ! JAVA_HOME=$(jd_find_jdk); then
  cat >&2 <<'MSG'
jdiffusion needs a JDK 25 or newer (for the Vector API and FFM), and none was found.
Looked at $JAVA_HOME, the `java` on PATH, /usr/lib/jvm, /Library/Java/JavaVirtualMachines, ~/.sdkman and ~/.jdks
(or the folders in $JDIFFUSION_JDK_DIRS when that is set).
Install one, for example:
  Debian/Ubuntu:  apt-get install temurin-25-jdk   (Adoptium repository) or openjdk-25-jdk
  macOS:          brew install openjdk@25
  SDKMAN:         sdk install java 25-tem
then run again, or point JAVA_HOME at it.
MSG
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"

jd_maven() {  # runs Maven from the repository root: the system one when recent enough, else the wrapper
  if command -v mvn >/dev/null 2>&1 && mvn -v 2>/dev/null | head -n1 | grep -Eq 'Apache Maven (3\.([6-9]|[1-9][0-9])|[4-9])'; then
    mvn "$@"
  else
    ./mvnw "$@"
  fi
}
