#!/usr/bin/env bash
# Builds a larger natural-photo training set than the 400 crops in ../shared/photos, from the same Debian
# packages (../shared/photos/SOURCES.md): gcompris-qt-data, lomiri-wallpapers-16.04, lomiri-wallpapers-20.04,
# mate-backgrounds, opencv-doc, palapeli-data, plasma-workspace-wallpapers.
#
#   scripts/get-photos.sh                        # into ../photos-debian (beside the repository)
#   scripts/get-photos.sh --out DIR              # or: scripts/get-photos.sh DIR
#   scripts/get-photos.sh --limit 5 --out /tmp/p # a quick run: at most 5 photos per package
#
# Flags: --out DIR (default ../photos-debian), --size N (side of the square crops, default 256),
# --limit N (at most N photos per package, default: all), --crops N (at most N crops per photo,
# default 16), --debs DIR (keep the .deb files there and reuse them on the next run; default: a
# temporary folder), --force (replace an existing non-empty output folder), --help.
#
# How: apt-get download fetches each .deb (no root needed; apt-get update runs once if a download fails),
# dpkg-deb -x unpacks it into a temporary folder, and a Python 3 + Pillow program (below, as a heredoc)
# takes the photographs. gcompris-qt-data keeps its pictures (WebP) inside Qt .rcc resource archives,
# which Debian has no extractor for (rcc --list only lists): the program reads them itself (header
# "qres", then the tree, names and data; entries stored plain, zlib- or zstd-compressed). Only pictures
# on the per-package lists below are taken (they were looked at for ../shared/photos: real photographs,
# no drawings, paintings, renders, logos or abstract art; gcompris adds its details/ and clickgame/
# photos), and only those whose both sides are at least --size pixels. Each photo gives
# clamp(round(W*H / (4*size^2)), 1, --crops) square crops: side f*min(W,H), f drawn in [max(0.25,
# size/min(W,H)), 1] over up to 4 scale bins, position uniform; a nearly flat crop (grey standard
# deviation < 10) is drawn again, up to 10 times. Each crop is resized to size x size (Lanczos) and saved
# as JPEG quality 90 without metadata. All draws are seeded from the package and path, so the same .debs
# and the same Pillow give the same files.
# Split: per package the photos are put in a fixed order (sha256 of "package:path"); --limit keeps the
# first N; every 20th photo (the 2nd, 22nd, ...) goes to val/, the rest to train/; no photo is in both.
#
# Output: OUT/train/<package>_<stem>_<k>.jpg, OUT/val/..., OUT/manifest.csv (every crop: source picture
# and crop box), OUT/SOURCES.md (package, version, .deb sha256, photos and crops taken, licence per
# photo), OUT/licences/<package>.copyright (each package's /usr/share/doc/<package>/copyright) and
# OUT/licences/gcompris-qt-data/*.README (the upstream notes giving author, licence and source of each
# gcompris picture).
#
# Contract: the set is built in a temporary folder beside OUT and renamed into place only when complete;
# an existing non-empty OUT is left alone unless --force, and even then only when it holds nothing but
# what this script writes. A package that cannot be downloaded or unpacked is a warning naming it (the
# others go on); no photo at all is an error. Missing tools (python3, python3-pil, zstd) are installed
# with apt-get (sudo when not root). Exit status: 0 on success, 1 on any error, 2 on a bad flag.
set -euo pipefail
say() { echo "get-photos: $*" >&2; }
die() { say "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
bad_flag() { say "error: $*"; say "see: $0 --help"; exit 2; }

# The packages of ../shared/photos/SOURCES.md.
packages=(gcompris-qt-data lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds opencv-doc
          palapeli-data plasma-workspace-wallpapers)

repo=$(cd "$(dirname "$0")/.." && pwd)
out="" size=256 limit=0 crops=16 force=0 debs=""
while (($#)); do
  case $1 in
    --out | --size | --limit | --crops | --debs)
      (($# >= 2)) || bad_flag "$1 needs a value"
      case $1 in
        --out) out=$2 ;; --size) size=$2 ;; --limit) limit=$2 ;; --crops) crops=$2 ;; --debs) debs=$2 ;;
      esac
      shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --size=*) size=${1#*=}; shift ;;
    --limit=*) limit=${1#*=}; shift ;;
    --crops=*) crops=${1#*=}; shift ;;
    --debs=*) debs=${1#*=}; shift ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) bad_flag "unknown flag $1" ;;
    *) [ -z "$out" ] || bad_flag "two output folders given: $out and $1"; out=$1; shift ;;
  esac
done
if ! [[ $size =~ ^[0-9]+$ ]] || ((size < 16 || size > 4096)); then bad_flag "--size $size: give a whole number from 16 to 4096"; fi
[[ $limit =~ ^[0-9]+$ ]] || bad_flag "--limit $limit: give a whole number (0: no limit)"
if ! [[ $crops =~ ^[0-9]+$ ]] || ((crops < 1)); then bad_flag "--crops $crops: give a whole number >= 1"; fi
[ -n "$out" ] || out=$(dirname "$repo")/photos-debian
case $out in /*) ;; *) out=$PWD/$out ;; esac
out=${out%/}
[ -n "$out" ] || bad_flag "--out /: give a folder of its own"
case $debs in "" | /*) ;; *) debs=$PWD/$debs ;; esac

# ---- the output folder: refuse to replace what is there unless --force, and never a folder it did not make
if [ -e "$out" ] || [ -L "$out" ]; then
  if ! [ -d "$out" ] || [ -L "$out" ]; then die "$out exists and is not a folder"; fi
  if [ -n "$(ls -A "$out")" ]; then
    ((force)) || die "$out is not empty; pass --force to replace it (or choose another --out)"
    for f in "$out"/* "$out"/.[!.]* "$out"/..?*; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      case ${f##*/} in train | val | licences | SOURCES.md | manifest.csv) ;;
        *) die "--force: $out holds ${f##*/}, which this script does not write; not replacing it (remove it yourself)" ;;
      esac
    done
  fi
fi

# ---- tools: Debian's python3 with Pillow (WebP support included), zstd for zstd-compressed .rcc entries
for t in apt-get dpkg-deb dpkg-query; do
  command -v "$t" >/dev/null || die "needs a Debian system: $t not found"
done
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
apt_updated=0
apt_update() {
  ((apt_updated)) && return 0
  apt_updated=1
  say "apt-get update"
  "${sudo_cmd[@]}" apt-get update -qq || say "warning: apt-get update failed"
}
missing=()
for p in python3 python3-pil zstd; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]}"
  if ((${#sudo_cmd[@]})) && ! command -v sudo >/dev/null; then
    die "not root and no sudo: install ${missing[*]} (apt-get install ${missing[*]}) and run again"
  fi
  apt_update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
fi
py=/usr/bin/python3  # Debian's, the one python3-pil is for (a python3 earlier on PATH may lack Pillow)
"$py" -c 'from PIL import features; assert features.check("webp") and features.check("jpg")' 2>/dev/null ||
  die "$py cannot import Pillow with JPEG and WebP support (package python3-pil)"

# ---- temporary folders: the work (downloads, unpacked trees) and the set being built, beside OUT
mkdir -p "$(dirname "$out")" || die "cannot make $(dirname "$out")"
work="" stage=""
cleanup() { rm -rf -- "$work" "$stage"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
work=$(mktemp -d "${TMPDIR:-/tmp}/get-photos.XXXXXX")
stage=$(mktemp -d "$(dirname "$out")/.$(basename "$out").partial.XXXXXX") || die "cannot write in $(dirname "$out")"
dl=${debs:-$work/debs}
mkdir -p "$dl" || die "--debs $dl: cannot make it"
apt_opts=(-qq)
# As root apt drops to the user _apt to download, who cannot write in a private temporary folder.
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)

# ---- download and unpack each package; a failure is a warning naming the package
t0=$SECONDS
: >"$work/packages.tsv"
failed=()
for p in "${packages[@]}"; do
  deb=$(compgen -G "$dl/${p}_*.deb" | sort -V | tail -n 1 || true)
  if [ -z "$deb" ]; then
    say "downloading $p"
    if ! (cd "$dl" && apt-get "${apt_opts[@]}" download "$p" >&2); then
      apt_update
      (cd "$dl" && apt-get "${apt_opts[@]}" download "$p" >&2) || true
    fi
    deb=$(compgen -G "$dl/${p}_*.deb" | sort -V | tail -n 1 || true)
  else
    say "reusing $deb"
  fi
  if [ -z "$deb" ]; then
    say "warning: could not download $p (apt-get download $p failed); going on without it"
    failed+=("$p"); continue
  fi
  mkdir -p "$work/x/$p"
  if ! nice -n 10 dpkg-deb -x "$deb" "$work/x/$p"; then
    say "warning: could not unpack $deb (dpkg-deb -x failed; if it is damaged, remove it to download it again); going on without $p"
    failed+=("$p"); continue
  fi
  printf '%s\t%s\t%s\n' "$p" "$deb" "$work/x/$p" >>"$work/packages.tsv"
done
say "downloaded and unpacked in $((SECONDS - t0)) s"
[ -s "$work/packages.tsv" ] || die "no package could be downloaded (${failed[*]}); check apt's sources and the network"

# ---- take the photos and write the crops, SOURCES.md, manifest.csv and the licences into the stage
t0=$SECONDS
nice -n 10 "$py" - --packages "$work/packages.tsv" --out "$stage" --size "$size" --limit "$limit" \
  --crops "$crops" --failed "${failed[*]:-}" <<'PYTHON'
"""Takes the photographs out of unpacked Debian packages and writes square crops (see get-photos.sh)."""
import argparse, csv, fnmatch, hashlib, io, json, os, random, re, shutil, struct, subprocess, sys, zlib

from PIL import Image, ImageCms, ImageOps, ImageStat

SEED = 20240611
LO_FRAC = 0.25     # the smallest crop side, as a fraction of the photo's shorter side (unless size is larger)
MAX_SCALES = 4     # scale bins per photo
MIN_STD = 10.0     # a crop whose grey-level standard deviation (0..255) is lower is drawn again...
MAX_TRIES = 10     # ... at most this many times, keeping the busiest
VAL_EVERY = 20     # photo i of a package (in its fixed order) is for val/ when i % VAL_EVERY == 1
GC = "gcompris/src/activities/"

# Which pictures are photographs, per package: fnmatch patterns ("*" spans folders) on the path under
# `root` (for gcompris-qt-data: the path inside its .rcc archives). From the review in
# ../shared/photos/SOURCES.md, for the versions in `reviewed`. `src` + that path is where the picture
# sits in the upstream source tree, which the Files: patterns of the Debian copyright file describe.
RULES = {
    "gcompris-qt-data": dict(
        rcc="usr/share/gcompris-qt/rcc", root=GC, src="src/activities/",
        include=["erase/resource/*.webp", "explore_world_animals/resource/animals/*.webp",
                 "explore_farm_animals/resource/animals/*.webp", "explore_monuments/resource/*/*.webp",
                 "clickgame/resource/sea*.webp"]
        + [f"details/resource/image/{n}_background.webp" for n in (
            "Chenonceau", "EgeskovSlotSpejling", "EilanDonanCastle", "FanoeWindmill", "GizahPyramids",
            "Louvre_2007_02_24_c", "NDP", "Nagoya", "Neuschwanstein", "OperaSidney", "TajMahal", "TourEiffel",
            "TowerBridgeLondon")],
        exclude=[], reviewed="3.1-2"),
    "lomiri-wallpapers-16.04": dict(
        root="usr/share/backgrounds/", src="16.04/", include=["*.jpg"],
        exclude=["analogpattern_by_Peter_Nerlich.jpg", "umang_by_Abhishek_Mudgal.jpg"], reviewed="20.04.0-2"),
    "lomiri-wallpapers-20.04": dict(
        root="usr/share/backgrounds/", src="20.04/", include=["*.jpg"],
        exclude=["Fossa_by_Jasper_Roks.jpg", "Infinite-Sea_by_Aury88.jpg", "Painting-Colors_by__herobrine7gamer.jpg"],
        reviewed="20.04.0-2"),
    "mate-backgrounds": dict(root="usr/share/backgrounds/mate/", src="", include=["nature/*.jpg"], exclude=[],
                             reviewed="1.26.0-1"),
    "opencv-doc": dict(
        root="usr/share/doc/opencv-doc/examples/data/", src="samples/data/",
        include=["baboon.jpg", "fruits.jpg", "building.jpg", "leuvenA.jpg", "aero1.jpg", "aero3.jpg", "butterfly.jpg",
                 "squirrel_cls.jpg", "chicky_512.png", "aloeL.jpg", "apple.jpg", "orange.jpg", "home.jpg"],
        exclude=[], reviewed="4.6.0+dfsg-12"),
    "palapeli-data": dict(root="usr/share/palapeli/collection/", src="puzzles/", include=["*.jpg"], exclude=[],
                          reviewed="4:22.12.3-1"),
    "plasma-workspace-wallpapers": dict(
        root="usr/share/wallpapers/", src="",
        include=[f"{n}/contents/images/*.jpg" for n in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
            "OneStandsOut", "Path", "summer_1am")],
        exclude=[], reviewed="4:5.27.5-2"),
}


def say(msg):
    print(f"get-photos: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Qt binary resource files (.rcc), read from the format rcc writes (Qt's src/tools/rcc/rcc.cpp): a header
# "qres", u32 format version (1-3), u32 offsets of the tree, the data and the names (big-endian; version 3
# adds u32 overall flags). Tree: one record per node, 14 bytes (22 from version 2: + u64 modification
# time): u32 name offset, u16 flags (1: zlib, 2: directory, 4: zstd), then for a directory u32 child count
# and u32 index of its first child, for a file u16 territory, u16 language, u32 data offset. Node 0 is the
# root. Name: u16 length, u32 hash, UTF-16BE text. Data: u32 length, then the bytes; zlib entries start
# with a u32 uncompressed size (qCompress), zstd entries are one zstd frame.
# ---------------------------------------------------------------------------------------------------------
class Rcc:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        if self.b[:4] != b"qres" or len(self.b) < 20:
            raise ValueError("not a Qt resource file (no 'qres' header)")
        self.version, self.tree, self.data, self.names = struct.unpack_from(">4I", self.b, 4)
        if self.version not in (1, 2, 3):
            raise ValueError(f"unknown .rcc format version {self.version}")
        self.node_size = 14 if self.version == 1 else 22
        self.entries = {}
        self._walk()

    def _name(self, off):
        (n,) = struct.unpack_from(">H", self.b, self.names + off)
        at = self.names + off + 6
        return self.b[at:at + 2 * n].decode("utf-16-be")

    def _walk(self):
        stack, seen = [(0, "")], set()
        while stack:
            i, path = stack.pop()
            if i in seen:
                raise ValueError("the tree loops")
            seen.add(i)
            at = self.tree + i * self.node_size
            name_off, flags, a, b = struct.unpack_from(">IHII", self.b, at)
            if i:
                path = f"{path}/{self._name(name_off)}" if path else self._name(name_off)
            if flags & 2:
                stack.extend((c, path) for c in range(b, b + a))
            else:
                self.entries[path] = (flags, b)

    def read(self, path):
        flags, off = self.entries[path]
        (n,) = struct.unpack_from(">I", self.b, self.data + off)
        raw = self.b[self.data + off + 4:self.data + off + 4 + n]
        if flags & 1:
            return zlib.decompress(raw[4:])
        if flags & 4:
            try:
                r = subprocess.run(["zstd", "-dcq"], input=raw, capture_output=True, check=True)
            except (OSError, subprocess.CalledProcessError) as e:
                raise ValueError(f"zstd -d failed on {path} (Debian package zstd): {e}")
            return r.stdout
        return raw


# ---------------------------------------------------------------------------------------------------------
# Finding the photos
# ---------------------------------------------------------------------------------------------------------
def matches(rel, rule):
    return (any(fnmatch.fnmatchcase(rel, p) for p in rule["include"])
            and not any(fnmatch.fnmatchcase(rel, p) for p in rule["exclude"]))


def slug(s):
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def stem_of(rel):
    parts = [p for p in os.path.splitext(rel)[0].split("/") if p not in ("resource", "contents", "images")]
    if parts and re.fullmatch(r"\d+x\d+", parts[-1]):  # plasma: <name>/contents/images/2560x1600.jpg
        parts.pop()
    return slug("_".join(parts))


def candidates(pkg, tree):
    """(rel, where, opener) for every picture of pkg that its rule takes; where is the path to show."""
    rule = RULES[pkg]
    out = []
    if "rcc" in rule:
        folder = os.path.join(tree, rule["rcc"])
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if not name.endswith(".rcc"):
                continue
            try:
                r = Rcc(os.path.join(folder, name))
            except (OSError, ValueError, struct.error) as e:
                say(f"warning: {pkg}: skipping {rule['rcc']}/{name}: {e}")
                continue
            for inner in sorted(r.entries):
                if inner.startswith(rule["root"]) and matches(inner[len(rule["root"]):], rule):
                    out.append((inner[len(rule["root"]):], f"{name}:{inner}",
                                lambda r=r, inner=inner: io.BytesIO(r.read(inner)), (r, inner)))
    else:
        base = os.path.join(tree, rule["root"])
        for d, _, files in os.walk(base):
            for f in files:
                full = os.path.join(d, f)
                if os.path.islink(full):  # plasma: other resolutions are links to the one picture
                    continue
                rel = os.path.relpath(full, base)
                if matches(rel, rule):
                    out.append((rel, os.path.relpath(full, tree), lambda full=full: full, None))
    # A fixed order that does not depend on the listing: --limit keeps the first N, val/ every 20th.
    out.sort(key=lambda c: hashlib.sha256(f"{pkg}:{c[0]}".encode()).hexdigest())
    return out


# ---------------------------------------------------------------------------------------------------------
# Images and crops
# ---------------------------------------------------------------------------------------------------------
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def load_rgb(src):
    im = Image.open(src)
    im.load()
    im = ImageOps.exif_transpose(im)
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA"):
        try:
            im = ImageCms.profileToProfile(im.convert("RGB"), ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB,
                                           outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
            im = im.convert("RGBA")
            bg = Image.new("RGB", im.size, (255, 255, 255))
            bg.paste(im, mask=im.getchannel("A"))
            im = bg
        else:
            im = im.convert("RGB")
    return im


def n_crops(w, h, size, most):
    return max(1, min(most, int(w * h / (4 * size * size) + 0.5)))


def make_crops(rng, im, n, size):
    """n crops: [((x, y, side), size x size image)]; crop k uses scale bin k mod min(n, MAX_SCALES)."""
    w, h = im.size
    s = min(w, h)
    lo = min(1.0, max(LO_FRAC, size / s))
    m = min(n, MAX_SCALES)
    out = []
    for k in range(n):
        b = k % m
        best = None
        for _ in range(MAX_TRIES):
            f = rng.uniform(lo + (1 - lo) * b / m, lo + (1 - lo) * (b + 1) / m)
            side = max(size, min(s, round(f * s)))
            x, y = rng.randint(0, w - side), rng.randint(0, h - side)
            cr = im.resize((size, size), Image.LANCZOS, box=(x, y, x + side, y + side), reducing_gap=3.0)
            sd = ImageStat.Stat(cr.convert("L")).stddev[0]
            if best is None or sd > best[0]:
                best = (sd, (x, y, side), cr)
            if sd >= MIN_STD:
                break
        out.append(best[1:])
    return out


# ---------------------------------------------------------------------------------------------------------
# Licences
# ---------------------------------------------------------------------------------------------------------
def parse_dep5(path):
    """The Files paragraphs of a machine-readable debian/copyright: [(patterns, licence short name)]."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    if not re.match(r"Format:\s*\S+", text.lstrip()):
        return None
    paras = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields, last = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                last, v = line.split(":", 1)
                last = last.strip().lower()
                fields[last] = v.strip()
        if "files" in fields:
            paras.append((fields["files"].split(), fields.get("license", "?").split("\n")[0].strip() or "?"))
    return paras


def dep5_licence(paras, path):
    """Licence of the last Files paragraph with a pattern matching path (in the source tree)."""
    if paras is None:
        return "see the copyright file (not machine-readable)"
    found = None
    for pats, lic in paras:
        for p in pats:
            if fnmatch.fnmatchcase(path, p):
                found = (p, lic)
    return f"{found[1]} (`Files: {found[0]}`)" if found else "? (no Files paragraph matches)"


def gcompris_note(r, inner, notes_dir, copied):
    """Author, licence and source of a gcompris picture from the upstream README next to it (copied into
    licences/gcompris-qt-data/)."""
    d = os.path.dirname(inner)
    while d.startswith(GC):
        readme = d + "/README"
        if readme in r.entries:
            if readme not in copied:
                os.makedirs(notes_dir, exist_ok=True)
                name = slug(d[len(GC):]) + ".README"
                with open(os.path.join(notes_dir, name), "wb") as f:
                    f.write(r.read(readme))
                copied[readme] = name
            rel = inner[len(d) + 1:]
            text = r.read(readme).decode("utf-8", "replace")
            for block in re.split(r"\n\s*\n", text):
                fields, files = {}, []
                for line in block.splitlines():
                    m = re.match(r"\s*(Copyright|License|Licence|Source|Comments?|Files):\s*(.*)", line)
                    if m:
                        key = m.group(1).lower()
                        if key == "files":
                            files += m.group(2).split()
                        else:
                            fields[key] = m.group(2).strip()
                    elif line.strip():
                        files += line.split()
                if rel in files:
                    note = (f"upstream README: License: {fields.get('license', fields.get('licence', '?'))}; "
                            f"Copyright: {fields.get('copyright', '?')}")
                    for k in ("source", "comment", "comments"):
                        if fields.get(k):
                            note += f"; {k.capitalize()}: {fields[k]}"
                    return note + f" (licences/gcompris-qt-data/{copied[readme]})"
            return f"upstream README names no licence for it (licences/gcompris-qt-data/{copied[readme]})"
        d = os.path.dirname(d)
    return ""


def upstream_note(pkg, tree, where, rcc_ref, notes_dir, copied):
    if rcc_ref:
        return gcompris_note(*rcc_ref, notes_dir, copied)
    if pkg == "plasma-workspace-wallpapers":
        mj = os.path.join(tree, where.split("/contents/")[0], "metadata.json")
        try:
            k = json.load(open(mj, encoding="utf-8")).get("KPlugin", {})
            return (f"metadata.json: License: {k.get('License', '?')}; "
                    f"Authors: {', '.join(a.get('Name', '?') for a in k.get('Authors', []))}")
        except (OSError, ValueError):
            return ""
    if pkg == "palapeli-data":
        kv = {}
        try:
            for line in open(os.path.join(tree, os.path.splitext(where)[0] + ".desktop"), encoding="utf-8"):
                if "=" in line and not line.startswith("["):
                    k, v = line.rstrip("\n").split("=", 1)
                    kv.setdefault(k, v)
        except OSError:
            return ""
        return (f".desktop: License: {kv.get('X-KDE-PluginInfo-License', '?')}; "
                f"Author: {kv.get('X-KDE-PluginInfo-Author', '?')}; Website: {kv.get('X-KDE-PluginInfo-Website', '?')}")
    return ""


def deb_info(deb):
    v = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True).stdout.strip() or "?"
    h = hashlib.sha256()
    with open(deb, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return v, h.hexdigest()


def counted(items):
    c = {}
    for x in items:
        c[x] = c.get(x, 0) + 1
    return ", ".join(f"{k} ({v})" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", required=True)  # lines: package <TAB> .deb <TAB> unpacked tree
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--limit", type=int, required=True)
    ap.add_argument("--crops", type=int, required=True)
    ap.add_argument("--failed", default="")
    a = ap.parse_args()
    size = a.size
    for d in ("train", "val", "licences"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    notes_dir = os.path.join(a.out, "licences", "gcompris-qt-data")
    rows, photos, per = [], [], []
    for line in open(a.packages, encoding="utf-8"):
        pkg, deb, tree = line.rstrip("\n").split("\t")
        version, sha = deb_info(deb)
        if version != RULES[pkg]["reviewed"]:
            say(f"warning: {pkg} is version {version}; its picture list was looked at for "
                f"{RULES[pkg]['reviewed']}: pictures may have been added, moved or replaced")
        cp = os.path.join(tree, "usr/share/doc", pkg, "copyright")
        if os.path.isfile(cp):
            shutil.copyfile(cp, os.path.join(a.out, "licences", f"{pkg}.copyright"))
        else:
            say(f"warning: {pkg} has no usr/share/doc/{pkg}/copyright")
        paras = parse_dep5(cp)
        taken, small, broken, copied = [], 0, 0, {}
        for rel, where, opener, rcc_ref in candidates(pkg, tree):
            if a.limit and len(taken) >= a.limit:
                break
            try:
                with Image.open(opener()) as probe:
                    w, h = probe.size  # before EXIF rotation: only the size matters here
            except Exception as e:  # a damaged or unknown picture: say so, go on
                say(f"warning: {pkg}: cannot read {where}: {e}")
                broken += 1
                continue
            if min(w, h) < size:
                small += 1
                continue
            taken.append((rel, where, opener, rcc_ref))
        ntr = nva = ctr = cva = 0
        for i, (rel, where, opener, rcc_ref) in enumerate(taken):
            split = "val" if i % VAL_EVERY == 1 else "train"
            try:
                im = load_rgb(opener())
            except Exception as e:  # damaged past its header
                say(f"warning: {pkg}: cannot decode {where}: {e}")
                continue
            w, h = im.size
            n = n_crops(w, h, size, a.crops)
            seed = hashlib.sha256(f"{SEED}:{pkg}:{rel}".encode()).digest()
            rng = random.Random(int.from_bytes(seed[:8], "big"))
            stem = stem_of(rel)
            for k, ((x, y, side), cr) in enumerate(make_crops(rng, im, n, size)):
                name = f"{pkg.replace('.', '')}_{stem}_{k}.jpg"
                cr.save(os.path.join(a.out, split, name), "JPEG", quality=90, optimize=True, subsampling="4:2:0")
                rows.append(dict(file=f"{split}/{name}", split=split, package=pkg, source=where, width=w, height=h,
                                 x=x, y=y, side=side))
            lic = dep5_licence(paras, RULES[pkg]["src"] + rel)
            note = upstream_note(pkg, tree, where, rcc_ref, notes_dir, copied)
            photos.append(dict(pkg=pkg, where=where, split=split, n=n, w=w, h=h, lic=lic, note=note))
            if split == "val":
                nva, cva = nva + 1, cva + n
            else:
                ntr, ctr = ntr + 1, ctr + n
        extra = (f"; {small} smaller than {size} px skipped" if small else "") + (f"; {broken} unreadable" if broken else "")
        say(f"{pkg} {version}: {ntr + nva} photo{'' if ntr + nva == 1 else 's'} ({ntr} train, {nva} val), {ctr + cva} crops{extra}")
        if not taken:
            say(f"warning: {pkg}: no photo taken")
        per.append(dict(pkg=pkg, version=version, deb=os.path.basename(deb), sha=sha, ntr=ntr, nva=nva, ctr=ctr,
                        cva=cva, lic=counted(p["lic"].split(" (`")[0] for p in photos if p["pkg"] == pkg) or "-"))
    if not rows:
        say("error: no photo at all was taken (see the warnings above)")
        sys.exit(1)
    seen = {}
    for r in rows:
        if r["file"] in seen:
            say(f"error: {seen[r['file']]} and {r['source']} both give {r['file']}")
            sys.exit(1)
        seen[r["file"]] = r["source"]
    with open(os.path.join(a.out, "manifest.csv"), "w", newline="", encoding="utf-8") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)

    ctr = sum(p["ctr"] for p in per)
    cva = sum(p["cva"] for p in per)
    L = ["# Natural-photo training set from Debian packages (train/, val/)", "",
         f"{ctr} training crops from {sum(p['ntr'] for p in per)} photographs and {cva} validation crops from "
         f"{sum(p['nva'] for p in per)} other photographs (no photo is in both), all {size}x{size} JPEG (quality 90). "
         f"Made by `scripts/get-photos.sh --size {size} --crops {a.crops}"
         + (f" --limit {a.limit}" if a.limit else "") + "` (its header says how the photos were chosen and "
         "cropped); `manifest.csv` gives each crop's source picture and crop box. Same packages as "
         "`../shared/photos` (the 400-crop set shipped for the tests).", "",
         "Licences: each package's Debian copyright file is in `licences/<package>.copyright`. The licence "
         "columns quote the `License` of the last `Files:` paragraph matching the picture's path in the "
         "upstream source tree (as this script maps it; the file itself gives the exact terms). Upstream notes (gcompris READMEs, copied into "
         "`licences/gcompris-qt-data/`; plasma `metadata.json`; palapeli `.desktop`) name each picture's author, "
         "licence and source where the package ships one; the gcompris pictures (WebP in the .rcc archives) fall "
         "under the Debian file's `Files: *` while their READMEs give the licence of each photo.", ""]
    if a.failed.strip():
        L += [f"Not included (could not be downloaded or unpacked): {', '.join(a.failed.split())}.", ""]
    L += ["## Packages", "",
          "| package | version | .deb (sha256) | photos train / val | crops train / val | licence in the Debian copyright file (photos) |",
          "| --- | --- | --- | --- | --- | --- |"]
    for p in per:
        L.append(f"| {p['pkg']} | {p['version']} | `{p['deb']}` (`{p['sha'][:16]}...`) | {p['ntr']} / {p['nva']} | "
                 f"{p['ctr']} / {p['cva']} | {p['lic']} |")
    L += ["", "## Photos", "", "| package | picture | size | split | crops | Debian copyright: License | upstream note |",
          "| --- | --- | --- | --- | --- | --- | --- |"]
    for p in photos:
        L.append(f"| {p['pkg']} | `{p['where']}` | {p['w']}x{p['h']} | {p['split']} | {p['n']} | {p['lic']} | "
                 f"{p['note'].replace('|', '/')} |")
    with open(os.path.join(a.out, "SOURCES.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    say(f"total: {ctr} train crops, {cva} val crops from {len(photos)} photos")


main()
PYTHON
say "cropped in $((SECONDS - t0)) s"

# ---- into place: OUT is replaced only now, when the new set is complete
chmod 755 "$stage"
if [ -d "$out" ]; then
  old=$(mktemp -d "$(dirname "$out")/.$(basename "$out").old.XXXXXX")
  mv -- "$out" "$old/" || die "could not move the old $out aside"
  mv -- "$stage" "$out" || die "could not move the new set into $out (the old one is in $old)"
  rm -rf -- "$old"
else
  mv -- "$stage" "$out" || die "could not move the new set into $out"
fi
stage=""
((${#failed[@]} == 0)) || say "warning: left out, could not be downloaded or unpacked: ${failed[*]}"
say "wrote $out: $(find "$out/train" -name '*.jpg' | wc -l) train and $(find "$out/val" -name '*.jpg' | wc -l) val crops"
