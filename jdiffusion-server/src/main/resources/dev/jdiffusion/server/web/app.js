// jdiffusion web page: plain JavaScript over the AUTOMATIC1111 API that this server speaks.
"use strict";
const $ = (id) => document.getElementById(id);
const jd = window.jd = { mode: "txt2img", initImage: null, progressLog: [], previews: 0, busy: false };

async function api(method, path, body) {
  const r = await fetch(path, {
    method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error(json && json.detail ? json.detail : r.status + " " + text);
  return json;
}

function status(text) { $("status").textContent = text; }

function setProgress(fraction, text) {
  $("progress-bar").style.width = Math.round(Math.min(1, Math.max(0, fraction)) * 100) + "%";
  $("progress-bar").dataset.value = String(fraction);
  $("progress-text").textContent = text || "";
}

async function loadLists() {
  const [samplers, schedulers, models, options] = await Promise.all([
    api("GET", "/sdapi/v1/samplers"), api("GET", "/sdapi/v1/schedulers"),
    api("GET", "/sdapi/v1/sd-models"), api("GET", "/sdapi/v1/options")]);
  $("sampler_name").innerHTML = samplers.map((s) => `<option>${s.name}</option>`).join("");
  $("sampler_name").value = "Euler a";
  $("scheduler").innerHTML = schedulers.map((s) => `<option value="${s.name}">${s.label}</option>`).join("");
  $("model").innerHTML = models.map((m) => `<option>${m.title}</option>`).join("");
  $("model").value = options.sd_model_checkpoint;
}

function mode(m) {
  jd.mode = m;
  $("tab-txt2img").classList.toggle("active", m === "txt2img");
  $("tab-img2img").classList.toggle("active", m === "img2img");
  $("img2img-controls").hidden = m !== "img2img";
}

function request() {
  const num = (id) => Number($(id).value);
  const req = {
    prompt: $("prompt").value, negative_prompt: $("negative_prompt").value,
    sampler_name: $("sampler_name").value, scheduler: $("scheduler").value,
    steps: num("steps"), cfg_scale: num("cfg_scale"), seed: num("seed"),
    width: num("width"), height: num("height"), batch_size: num("batch_size"),
    force_task_id: "task(web-" + Math.random().toString(36).slice(2, 12) + ")",
  };
  if (jd.mode === "img2img") {
    if (!jd.initImage) throw new Error("img2img needs an init image: choose one, or use 'Send to img2img' on a result");
    req.init_images = [jd.initImage];
    req.denoising_strength = num("denoising_strength");
  }
  return req;
}

async function poll(taskId) {
  let lastPreview = -1;
  while (jd.busy) {
    try {
      const p = await api("POST", "/internal/progress", { id_task: taskId, id_live_preview: lastPreview, live_preview: true });
      if (!jd.busy) break;
      if (p.active) {
        jd.progressLog.push(p.progress);
        setProgress(p.progress, p.textinfo + (p.eta != null ? `, ${p.eta.toFixed(1)} s left` : ""));
        if (p.live_preview) {
          $("preview").src = p.live_preview;
          $("preview").hidden = false;
          $("result").hidden = true;
          lastPreview = p.id_live_preview;
          jd.previews++;
        }
      } else if (p.queued) {
        setProgress(0, p.textinfo);
      }
    } catch (e) { /* a missed poll is no error */ }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function generate() {
  if (jd.busy) return;
  let req;
  try { req = request(); } catch (e) { status(e.message); return; }
  jd.busy = true;
  jd.progressLog = [];
  setProgress(0, "Waiting...");
  status("generating...");
  const polling = poll(req.force_task_id);
  try {
    const r = await api("POST", "/sdapi/v1/" + jd.mode, req);
    const info = JSON.parse(r.info);
    r.images.forEach((b64, i) => addToGallery("data:image/png;base64," + b64, info.infotexts[i]));
    if (r.images.length) {
      $("result").src = "data:image/png;base64," + r.images[0];
      $("result").hidden = false;
      $("preview").hidden = true;
      $("result-info").textContent = info.infotexts[0];
    }
    setProgress(1, "Done: " + r.images.length + " image(s), seed " + info.seed);
    status("");
  } catch (e) {
    setProgress(0, "");
    status("Error: " + e.message);
  } finally {
    jd.busy = false;
    await polling;
  }
}

function addToGallery(src, infotext) {
  const item = document.createElement("div");
  item.className = "item";
  const img = document.createElement("img");
  img.src = src;
  const text = document.createElement("pre");
  text.textContent = infotext;
  const send = document.createElement("button");
  send.type = "button";
  send.className = "send-to-img2img";
  send.textContent = "Send to img2img";
  send.onclick = () => {
    jd.initImage = src.substring(src.indexOf(",") + 1);
    $("init-preview").src = src;
    fillFromParameters(jd.initImage);
    mode("img2img");
  };
  item.append(img, send, text);
  $("gallery").prepend(item);
}

// The result PNGs carry their parameters: png-info reads them back (one parser, the server's).
async function fillFromParameters(b64png) {
  const r = await api("POST", "/sdapi/v1/png-info", { image: b64png }).catch(() => null);
  if (r && r.info) applyParameters(r.parameters);
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function applyParameters(p) {
  const set = (id, v) => { if (v !== undefined && v !== null && v !== "") $(id).value = v; };
  set("prompt", p["Prompt"]);
  $("negative_prompt").value = p["Negative prompt"] || "";
  set("steps", p["Steps"]);
  set("cfg_scale", p["CFG scale"]);
  set("seed", p["Seed"]);
  set("width", p["Size-1"]);
  set("height", p["Size-2"]);
  set("denoising_strength", p["Denoising strength"]);
  if (p["Sampler"]) $("sampler_name").value = p["Sampler"];
  if (p["Schedule type"]) {
    const opt = [...$("scheduler").options].find((o) => o.textContent === p["Schedule type"] || o.value === p["Schedule type"]);
    if (opt) $("scheduler").value = opt.value;
  }
}

async function readPng(file) {
  const b64 = toBase64(new Uint8Array(await file.arrayBuffer()));
  try {
    const r = await api("POST", "/sdapi/v1/png-info", { image: b64 });
    $("png-info").textContent = r.info || "(this PNG carries no parameters)";
    if (r.info) applyParameters(r.parameters);
  } catch (e) {
    $("png-info").textContent = "Error: " + e.message;
  }
}

function init() {
  $("tab-txt2img").onclick = () => mode("txt2img");
  $("tab-img2img").onclick = () => mode("img2img");
  $("generate").onclick = generate;
  $("interrupt").onclick = () => api("POST", "/sdapi/v1/interrupt", {});
  $("skip").onclick = () => api("POST", "/sdapi/v1/skip", {});
  $("model").onchange = async () => {
    status("loading " + $("model").value + "...");
    try { await api("POST", "/sdapi/v1/options", { sd_model_checkpoint: $("model").value }); status(""); }
    catch (e) { status("Error: " + e.message); }
  };
  $("init-file").onchange = async () => {
    const f = $("init-file").files[0];
    if (!f) return;
    jd.initImage = toBase64(new Uint8Array(await f.arrayBuffer()));
    $("init-preview").src = "data:" + f.type + ";base64," + jd.initImage;
  };
  $("png-file").onchange = () => { if ($("png-file").files[0]) readPng($("png-file").files[0]); };
  const drop = document.body;
  drop.addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
  drop.addEventListener("dragleave", () => $("drop").classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    $("drop").classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) readPng(f);
  });
  $("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) generate(); });
  loadLists().then(() => { jd.ready = true; document.body.dataset.ready = "true"; }).catch((e) => status("Error: " + e.message));
}

init();
