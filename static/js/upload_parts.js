// Files above the portal's part size go in parts through /api/v1/uploads/ (README, "Large files in parts"), with a
// <progress> that moves per part. The form carries data-parts-threshold (bytes) and data-uploads-url; without this
// script (or for a smaller file) the form posts the file whole, as before. A label form (the evaluation page) also
// carries data-parts-evaluation and data-parts-version: its file goes as late labels of that evaluation.
// WebCrypto hashes only whole buffers, so the file's SHA-256 is computed here, incrementally, one part at a time.
(function () {
  "use strict";

  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);

  // SHA-256 fed in pieces: update(bytes) any number of times, then hex().
  function Sha256() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.block = new Uint8Array(64);
    this.used = 0;
    this.length = 0;
    this.w = new Uint32Array(64);
  }

  Sha256.prototype.compress = function (bytes, offset) {
    var w = this.w, h = this.h, i, s0, s1, t1, t2;
    for (i = 0; i < 16; i += 1) {
      var j = offset + i * 4;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (i = 16; i < 64; i += 1) {
      s0 = ((w[i - 15] >>> 7) | (w[i - 15] << 25)) ^ ((w[i - 15] >>> 18) | (w[i - 15] << 14)) ^ (w[i - 15] >>> 3);
      s1 = ((w[i - 2] >>> 17) | (w[i - 2] << 15)) ^ ((w[i - 2] >>> 19) | (w[i - 2] << 13)) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i += 1) {
      s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      t1 = (k + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  };

  Sha256.prototype.update = function (bytes) {
    var offset = 0;
    this.length += bytes.length;
    if (this.used) {
      var take = Math.min(64 - this.used, bytes.length);
      this.block.set(bytes.subarray(0, take), this.used);
      this.used += take;
      offset = take;
      if (this.used < 64) {
        return this;
      }
      this.compress(this.block, 0);
      this.used = 0;
    }
    for (; offset + 64 <= bytes.length; offset += 64) {
      this.compress(bytes, offset);
    }
    this.block.set(bytes.subarray(offset), 0);
    this.used = bytes.length - offset;
    return this;
  };

  Sha256.prototype.hex = function () {
    var bits = this.length * 8;
    var tail = new Uint8Array((this.used < 56 ? 64 : 128) - this.used);
    tail[0] = 0x80;
    var view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(tail.length - 4, bits >>> 0);
    this.update(tail);
    return Array.prototype.map.call(this.h, function (word) {
      return ("00000000" + (word >>> 0).toString(16)).slice(-8);
    }).join("");
  };

  function hashOf(bytes) {
    return new Sha256().update(bytes).hex();
  }

  function readPart(file, start, end) {
    return file.slice(start, end).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function api(form, method, url, body, headers) {
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    var all = Object.assign({ "Accept": "application/json", "X-CSRFToken": token ? token.value : "" }, headers || {});
    return fetch(url, { method: method, body: body, headers: all, credentials: "same-origin" }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          var error = new Error(answer.detail || ("The portal answered " + response.status + "."));
          error.answer = answer;
          error.status = response.status;
          throw error;
        }
        return answer;
      });
    });
  }

  function value(form, name) {
    var field = form.elements[name];
    return field ? field.value : "";
  }

  function sendInParts(form, file, ui) {
    var partSize = Number(form.getAttribute("data-parts-threshold"));
    var parts = Math.max(1, Math.ceil(file.size / partSize));
    var whole = new Sha256();
    var uploads = form.getAttribute("data-uploads-url");
    ui.progress.max = parts;
    ui.say("Starting the upload…");

    // A part that fails on the way (no answer, or a server error) is sent again after each of these pauses, in
    // seconds; a refusal (400, 409, 413) is not: the same bytes would be refused again.
    var pauses = (form.getAttribute("data-parts-retry-seconds") || "1,2,4,8,16").split(",").map(Number);
    var opened = null;

    function sendPart(url, number, bytes, digest, attempt) {
      return api(form, "PUT", url, bytes, { "Content-Type": "application/octet-stream", "X-Part-SHA256": digest })
        .catch(function (error) {
          if ((error.status && error.status < 500) || attempt >= pauses.length) {
            if (attempt) {
              error.message = "Part " + number + " could not be sent (" + (attempt + 1) + " attempts): " + error.message;
            }
            throw error;
          }
          ui.say("Part " + number + " failed (" + error.message + "); sending it again in " + pauses[attempt] + " s…");
          return new Promise(function (resolve) { setTimeout(resolve, pauses[attempt] * 1000); }).then(function () {
            return sendPart(url, number, bytes, digest, attempt + 1);
          });
        });
    }

    // Each part is hashed as it is read, for its own SHA-256 and the whole file's (given when completing).
    function sendFrom(session, number) {
      if (number > parts) {
        return Promise.resolve(session);
      }
      return readPart(file, (number - 1) * partSize, number * partSize).then(function (bytes) {
        whole.update(bytes);
        return sendPart(session.urls.part.replace("{number}", number), number, bytes, hashOf(bytes), 0);
      }).then(function () {
        ui.progress.value = number;
        ui.say("Sent part " + number + " of " + parts + " (" + Math.floor(100 * number / parts) + "%).");
        return sendFrom(session, number + 1);
      });
    }

    function poll(session) {
      if (session.state === "complete") {
        return session;
      }
      if (session.state === "rejected") {
        var error = new Error(session.error || "The file was rejected.");
        error.answer = session;
        throw error;
      }
      return new Promise(function (resolve) { setTimeout(resolve, 1000); }).then(function () {
        return api(form, "GET", session.urls.self);
      }).then(poll);
    }

    var body = form.getAttribute("data-parts-evaluation") ? {
      // Late labels: a label file for the evaluation the page shows (README, "Late labels").
      model_version: Number(form.getAttribute("data-parts-version")), filename: file.name, size: file.size,
      purpose: "labels", evaluation: Number(form.getAttribute("data-parts-evaluation"))
    } : {
      model_version: Number(value(form, "version")), filename: file.name, size: file.size,
      kind: value(form, "kind"), positive_label: value(form, "positive_label") || "1",
      sensitive_features: value(form, "sensitive_features").split(",").map(function (name) { return name.trim(); })
        .filter(Boolean),
      target_column: value(form, "target_column"), prediction_column: value(form, "prediction_column"),
      score_column: value(form, "score_column"), timestamp_column: value(form, "timestamp_column"),
      prediction_id_column: value(form, "prediction_id_column")
    };
    Object.keys(body).forEach(function (key) { if (body[key] === "") { delete body[key]; } });
    return api(form, "POST", uploads, JSON.stringify(body), { "Content-Type": "application/json" }).then(function (session) {
      opened = session;
      return sendFrom(session, 1);
    }).then(function (session) {
      ui.say("All parts sent; the portal is checking the file…");
      return api(form, "POST", session.urls.complete, JSON.stringify({ sha256: whole.hex() }),
                 { "Content-Type": "application/json" });
    }).then(function (session) {
      opened = null;  // a worker has it now: nothing to abort
      return poll(session);
    }).catch(function (error) {
      if (!opened) {
        throw error;
      }
      // The page cannot resume it: abort it so its parts do not hold the portal's disk (and the person's quota of
      // open uploads) until it expires.
      return api(form, "DELETE", opened.urls.self).then(function () {
        error.message += " The upload was cancelled; nothing was stored. Choose Upload to try again.";
      }, function () { return null; }).then(function () { throw error; });
    });
  }

  function enhance(form) {
    var threshold = Number(form.getAttribute("data-parts-threshold"));
    var input = form.querySelector("input[type=file]");
    var box = form.querySelector("[data-parts-progress]");
    if (!threshold || !input || !box || !window.fetch) {
      return;
    }
    var ui = {
      progress: box.querySelector("progress"),
      status: box.querySelector("[data-parts-status]"),
      problems: box.querySelector("[data-parts-problems]"),
      say: function (text) { ui.status.textContent = text; }
    };
    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      // The preview button reads a few rows; it keeps the whole-file post.
      if (!file || file.size <= threshold || (event.submitter && event.submitter.hasAttribute("formaction"))) {
        return;
      }
      event.preventDefault();
      box.hidden = false;
      ui.problems.textContent = "";
      sendInParts(form, file, ui).then(function (session) {
        ui.say("Uploaded; opening the evaluation…");
        window.location.assign(form.getAttribute("data-evaluation-url").replace(/0\/$/, session.evaluation + "/"));
      }).catch(function (error) {
        var problems = (error.answer && error.answer.problems) || [];
        // A rejected file's message already lists its problems: say so once, and list them below.
        ui.say(problems.length ? "The file was rejected and nothing was stored:" : error.message);
        problems.forEach(function (problem) {
          var item = document.createElement("li");
          var where = problem.column ? "column '" + problem.column + "'" : "";
          if (problem.rows && problem.rows.length) {
            where += (where ? ", " : "") + "rows " + problem.rows.join(", ");
          }
          item.textContent = (where ? where + ": " : "") + problem.message;
          ui.problems.appendChild(item);
        });
      });
    });
  }

  window.PortalSha256 = Sha256;  // checked against Python's hashlib by tests/monitoring/test_upload_parts_js.py
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-parts-threshold]").forEach(enhance);
  });
})();
