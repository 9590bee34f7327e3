// medscreen: upload progress and result polling. Everything else works without JavaScript.
"use strict";
(function () {
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function poll(id, done) {
    var timer = setInterval(function () {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", "/api/v1/screenings/" + encodeURIComponent(id));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.onload = function () {
        if (xhr.status !== 200) { return; }
        var status = JSON.parse(xhr.responseText).status;
        if (status === "done" || status === "failed") { clearInterval(timer); done(); }
      };
      xhr.send();
    }, 1000);
  }

  function reloadAt(id) {
    window.location.hash = "screening-" + id;
    window.location.reload();
  }

  document.querySelectorAll("[data-poll-screening]").forEach(function (el) {
    var id = el.getAttribute("data-poll-screening");
    poll(id, function () { reloadAt(id); });
  });

  // Phone uploads over a weak network. A fundus photo larger than the form's data-max-side (2,048 px) is reduced
  // here (canvas, JPEG 0.9) and its original size goes with it; other files go as they are. A failed send is
  // retried with the same bytes and the same idempotency key, so the server stores one capture however many
  // times it arrives. The bytes sent are shown as they go.
  // The form carries every message in the page's language: data-NAME, with {placeholders} that say() fills in.
  var lang = document.documentElement.lang || undefined;

  function say(form, name, values) {
    return (form.getAttribute("data-" + name) || "").replace(/\{(\w+)\}/g, function (all, key) {
      return values && key in values ? values[key] : all;
    });
  }

  function size(form, n) {  // 1.7 MB, 350 kB (1,7 Mo, 350 ko in French)
    if (n < 1e6) { return say(form, "kb", {n: Math.round(n / 1e3).toLocaleString(lang)}); }
    return say(form, "mb", {n: (n / 1e6).toLocaleString(lang, {minimumFractionDigits: 1, maximumFractionDigits: 1})});
  }

  // The server's own error text (body.detail) is English whatever the page's language: it is marked lang="en".
  function show(output, parts) {
    output.textContent = "";
    parts.forEach(function (part, i) {
      if (i) { output.append(" "); }
      if (typeof part === "string") { output.append(part); return; }
      var span = document.createElement("span");
      span.lang = "en"; span.textContent = part.en;
      output.append(span);
    });
  }

  function reduce(file, maxSide) {
    if (!maxSide || !window.createImageBitmap || !HTMLCanvasElement.prototype.toBlob) {
      return Promise.resolve(null);
    }
    return createImageBitmap(file, {imageOrientation: "from-image"}).then(function (bitmap) {
      var w = bitmap.width, h = bitmap.height, scale = maxSide / Math.max(w, h);
      if (scale >= 1) { bitmap.close(); return null; }
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
      var ctx = canvas.getContext("2d");
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.9); }).then(function (blob) {
        return blob && {blob: blob, name: file.name.replace(/\.[^.]*$/, "") + ".jpg",
                        original: {byte_size: file.size, width: w, height: h}};
      });
    }).catch(function () { return null; });  // a file the browser cannot decode (DICOM, TIFF): sent as it is
  }

  var RETRY_DELAYS_S = [2, 5, 15];

  document.querySelectorAll("form.upload[data-api]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var keyField = form.querySelector("input[name=idempotency_key]");
    var baseKey = keyField ? keyField.value : "";
    var picks = 0, prepared = null;
    var bar = form.querySelector("progress");
    var message = form.querySelector(".upload-message");
    var button = form.querySelector("button");
    var bytes = document.createElement("span");
    bytes.className = "upload-bytes muted";
    bar.insertAdjacentElement("afterend", bytes);

    input.addEventListener("change", function () {
      prepared = null;  // another photo: another upload, with its own key
      picks += 1;
      if (keyField && picks > 1) { keyField.value = baseKey + "-" + picks; }
    });

    function prepare() {
      var file = input.files[0];
      if (prepared && prepared.file === file) { return Promise.resolve(prepared); }
      message.textContent = say(form, "preparing");
      return reduce(file, parseInt(form.getAttribute("data-max-side") || "0", 10)).then(function (small) {
        var body = new FormData(form);
        if (small) {
          body.set("file", small.blob, small.name);
          body.set("original_byte_size", small.original.byte_size);
          body.set("original_width", small.original.width);
          body.set("original_height", small.original.height);
        }
        prepared = {file: file, body: body, size: small ? small.blob.size : file.size,
                    reducedFrom: small ? size(form, file.size) : null};
        return prepared;
      });
    }

    function fail(parts) {
      button.disabled = false; bar.hidden = true; bytes.textContent = "";
      show(message, parts);
    }

    function send(upload, attempt) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-api"));
      xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.setRequestHeader("Accept", "application/json");
      if (keyField) { xhr.setRequestHeader("Idempotency-Key", keyField.value); }
      bar.hidden = false; bar.value = 0;
      message.textContent = attempt ? say(form, "resending", {n: attempt + 1})
        : upload.reducedFrom ? say(form, "uploading-reduced", {size: upload.reducedFrom}) : say(form, "uploading");
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) { return; }
        bar.value = Math.round(100 * e.loaded / e.total);
        bytes.textContent = say(form, "sent", {sent: size(form, e.loaded), total: size(form, e.total)});
      };
      function retry(why, after) {
        if (attempt >= RETRY_DELAYS_S.length) {
          fail([why, say(form, "give-up")]);
          return;
        }
        var wait = Math.max(after || 0, RETRY_DELAYS_S[attempt]);
        show(message, [why, say(form, "retry-in", {seconds: wait})]);
        setTimeout(function () { send(upload, attempt + 1); }, wait * 1000);
      }
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 202) {
          bar.value = 100; message.textContent = say(form, "uploaded");
          poll(body.screening_id, function () { reloadAt(body.screening_id); });
        } else if (xhr.status === 401) {
          window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
        } else if (xhr.status >= 500 || xhr.status === 408 || xhr.status === 429) {
          retry(body.detail ? {en: body.detail} : say(form, "server-error", {status: xhr.status}),
                parseInt(xhr.getResponseHeader("Retry-After") || "0", 10));
        } else {
          fail([body.detail ? {en: body.detail} : say(form, "failed", {status: xhr.status})]);
        }
      };
      xhr.onerror = function () { retry(say(form, "offline")); };
      xhr.send(upload.body);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      prepare().then(function (upload) { send(upload, 0); });
    });
  });
})();
// The reviewer's image viewer: zoom buttons set the stage's width (1:1 = the original's own pixels).
(function () {
  document.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var stage = document.getElementById(button.getAttribute("aria-controls"));
      var img = stage.querySelector(".layer-original");
      var zoom = button.getAttribute("data-zoom");
      stage.style.width = zoom === "1:1" ? img.naturalWidth + "px" : (100 * parseFloat(zoom)) + "%";
      stage.setAttribute("data-zoom", zoom);
    });
  });
})();
