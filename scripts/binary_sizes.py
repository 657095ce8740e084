#!/usr/bin/env python3
"""Binary and zipped sizes of the functions (`make bench`, docs/performance.md).

For each binary found, prints its size and the size of the zip Lambda would get (a single
`bootstrap` entry, deflate level 9, as `cargo lambda build --output-format zip` makes it):

  - $CARGO_TARGET_DIR/lambda/<binary>/bootstrap.zip (what `make package` built: arm64) when
    present, read as they are;
  - else $CARGO_TARGET_DIR/release/<binary> (x86_64 `cargo build --release`, the release
    profile of Cargo.toml: fat LTO, stripped), zipped here.

  python3 scripts/binary_sizes.py [--target-dir DIR] [--summary FILE] [binary ...]
"""
import argparse
import io
import os
import sys
import zipfile

MIB = 1024 * 1024


def zipped_size(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            z.writestr(info, f.read(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return len(buf.getvalue())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    ap.add_argument("--summary")
    ap.add_argument("binaries", nargs="*")
    args = ap.parse_args()
    rows = []
    for b in args.binaries:
        packaged = os.path.join(args.target_dir, "lambda", b, "bootstrap.zip")
        built = os.path.join(args.target_dir, "release", b)
        if os.path.exists(packaged):
            with zipfile.ZipFile(packaged) as z:
                size = sum(i.file_size for i in z.infolist())
            rows.append((b, "arm64 (make package)", size, os.path.getsize(packaged)))
        elif os.path.exists(built):
            rows.append((b, "x86_64 release", os.path.getsize(built), zipped_size(built)))
        else:
            print(f"{b}: not built (cargo build --release -p {b}, or make package)", file=sys.stderr)
    if not rows:
        return
    lines = [f"{'function':<22} {'build':<22} {'binary':>10} {'zipped':>10}"]
    for b, kind, size, zsize in rows:
        lines.append(f"{b:<22} {kind:<22} {size / MIB:>7.2f} MB {zsize / MIB:>7.2f} MB")
    print("\n".join(lines))
    if args.summary:
        with open(args.summary, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
