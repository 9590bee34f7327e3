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

  // the upload form carries its messages in the page's language (data-uploading, -uploaded, -failed, -offline)
  document.querySelectorAll("form.upload[data-api]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var bar = form.querySelector("progress");
      var message = form.querySelector(".upload-message");
      var button = form.querySelector("button");
      var data = new FormData(form);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-api"));
      xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false; bar.value = 0; button.disabled = true; message.textContent = form.getAttribute("data-uploading");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 202) {
          bar.value = 100; message.textContent = form.getAttribute("data-uploaded");
          poll(body.screening_id, function () { reloadAt(body.screening_id); });
        } else if (xhr.status === 401) {
          window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
        } else {
          button.disabled = false; bar.hidden = true;
          message.textContent = body.detail || form.getAttribute("data-failed").replace("{status}", xhr.status);
        }
      };
      xhr.onerror = function () {
        button.disabled = false; bar.hidden = true;
        message.textContent = form.getAttribute("data-offline");
      };
      xhr.send(data);
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
