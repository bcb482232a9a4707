"""The browser's incremental SHA-256 (static/js/upload_parts.js) agrees with hashlib, whole and fed in pieces."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "upload_parts.js"
NODE = shutil.which("node")
CHECK = """
const vm = require("vm");
const context = {window: {}, document: {addEventListener() {}}, Uint8Array, Uint32Array, DataView, Math};
vm.runInNewContext(require("fs").readFileSync(process.argv[1], "utf8"), context);
const answers = JSON.parse(process.argv[2]).map((length) => {
  const bytes = Uint8Array.from({length}, (_, i) => (i * 31 + 7) % 251);
  const whole = new context.window.PortalSha256().update(bytes).hex();
  const pieces = new context.window.PortalSha256();
  for (let start = 0; start < length; start += 13) { pieces.update(bytes.subarray(start, start + 13)); }
  return [whole, pieces.hex()];
});
console.log(JSON.stringify(answers));
"""
LENGTHS = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_browser_sha256_matches_hashlib():
    out = subprocess.run([NODE, "-e", CHECK, str(SCRIPT), json.dumps(LENGTHS)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    expected = [hashlib.sha256(bytes((i * 31 + 7) % 251 for i in range(n))).hexdigest() for n in LENGTHS]
    assert json.loads(out) == [[digest, digest] for digest in expected]
