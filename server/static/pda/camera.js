// Camera scan fallback for phones (no hardware scanner): a full-screen overlay with the rear camera's video, reading
// the first barcode it sees. The browser's own BarcodeDetector is used where it exists and reads every format asked
// for (Android Chrome); elsewhere the vendored barcode-detector polyfill (ZXing-C++ compiled to WebAssembly), whose
// .wasm is loaded from the hub, never from a CDN, so it works offline once the page's files are cached.
//
// A live camera needs a secure context (HTTPS, or localhost). A hub on the shop's network is usually plain HTTP: there
// the overlay says so and offers 拍照识别 instead — the phone's own camera app takes a photo (a file input with
// capture=environment works on HTTP) and the photo is decoded the same way.
//
//   import { openCamera, cameraAvailable } from '/pda/camera.js';
//   const cam = await openCamera(document.body, code => handleScan(code), { onClose: () => sink.focus() });
//   cam.close();  // e.g. when the task is withdrawn

export const FORMATS = ['code_128', 'ean_13', 'ean_8', 'code_39', 'qr_code', 'upc_a', 'itf'];

const SCAN_INTERVAL_MS = 125; // ~8 frames a second: quick enough to feel instant, light on a cheap phone's battery
const MAX_SIDE = 1280; // frames are scaled down to this for the polyfill (a 4K frame costs a lot and reads no better)
const VENDOR = './vendor/barcode-detector/';

const MESSAGES = {
  insecure: '实时扫码需要 HTTPS 连接：当前地址是 HTTP，浏览器不允许网页打开摄像头。可以用“拍照识别”，或请管理员为 PDA 地址开启 HTTPS。',
  unsupported: '此浏览器不支持网页打开摄像头。可以用“拍照识别”。',
  denied: '摄像头权限被拒绝：请在浏览器的网站设置里允许本站使用摄像头后重试，或用“拍照识别”。',
  none: '没有找到摄像头。',
  busy: '摄像头被其他应用占用：请关闭正在使用摄像头的应用后重试。',
  failed: '摄像头打开失败，请重试。',
  engine: '条码识别组件加载失败：请在有网络时刷新一次页面（之后离线也能用）。',
  photoNone: '照片里没有识别到条码：请靠近一些、对准条码、避免反光后重拍。',
  photoBad: '照片无法读取，请重拍。',
};

/** How a scan can be taken here: 'live' (camera video), 'photo' (the camera app via a file input: HTTP pages) or
 * null (no way to decode: neither BarcodeDetector nor WebAssembly). */
export function cameraAvailable() {
  if (!('BarcodeDetector' in globalThis) && typeof WebAssembly !== 'object') return null;
  if (globalThis.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) return 'live';
  return 'photo';
}

let polyfillModule = null;

/** The polyfill's module, its .wasm pointed at the copy next to it and compiled now (not on the first frame). */
async function loadPolyfill() {
  if (!polyfillModule) {
    polyfillModule = (async () => {
      const mod = await import('./vendor/barcode-detector/ponyfill.js');
      const wasmBase = new URL(VENDOR, import.meta.url).href;
      await mod.prepareZXingModule({
        overrides: {
          locateFile: (path, prefix) => (path.endsWith('.wasm') ? wasmBase + path : prefix + path),
        },
        fireImmediately: true,
      });
      return mod;
    })();
    polyfillModule.catch(() => { polyfillModule = null; }); // a failed load (offline, first visit) is retried
  }
  return polyfillModule;
}

/** A barcode reader for these formats: `{engine: 'native'|'zxing', detect(source) → [{rawValue, format}]}`, where
 * source is anything BarcodeDetector.detect takes (img, canvas, video, ImageData, Blob). `engine: 'zxing'` forces the
 * polyfill. */
export async function createDetector({ formats = FORMATS, engine = 'auto' } = {}) {
  if (engine !== 'zxing' && 'BarcodeDetector' in globalThis) {
    try {
      const supported = await globalThis.BarcodeDetector.getSupportedFormats();
      if (formats.every((f) => supported.includes(f))) {
        const native = new globalThis.BarcodeDetector({ formats });
        return { engine: 'native', detect: (source) => native.detect(source) };
      }
    } catch {
      // a BarcodeDetector that can't read (no detection service on this device): use the polyfill
    }
  }
  let mod;
  try {
    mod = await loadPolyfill();
  } catch (err) {
    throw Object.assign(new Error(MESSAGES.engine), { code: 'engine', cause: err });
  }
  const zxing = new mod.BarcodeDetector({ formats });
  return { engine: 'zxing', detect: (source) => zxing.detect(source) };
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function ensureStylesheet() {
  if (document.querySelector('link[rel="stylesheet"][href$="camera.css"]')) return;
  const link = el('link');
  link.rel = 'stylesheet';
  link.href = new URL('./camera.css', import.meta.url).href;
  document.head.append(link);
}

function cameraError(err) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') return 'denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') return 'none';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'busy';
  return 'failed';
}

/**
 * Opens the scan overlay in `container` (usually document.body) and resolves once the camera runs or the overlay shows
 * why it can't. The first code read calls `onCode(rawValue, format)` after the overlay has closed (and the phone has
 * vibrated). `onClose(reason)` follows every close: 'code', 'user' (关闭, Esc, back to the page), 'hidden' (the page
 * went to the background: the camera is released) or 'api' (close() called).
 * Returns `{close(), state}`; the overlay element carries data-state = starting | scanning | error | decoding.
 */
export async function openCamera(container, onCode, { formats = FORMATS, onClose = null, engine = 'auto' } = {}) {
  ensureStylesheet();
  const overlay = el('div', 'cam-overlay');
  overlay.setAttribute('role', 'dialog');
  overlay.setAttribute('aria-modal', 'true');
  overlay.setAttribute('aria-label', '摄像头扫码');
  overlay.dataset.state = 'starting';
  const video = el('video', 'cam-video');
  video.muted = true;
  video.playsInline = true;
  video.setAttribute('playsinline', '');
  video.setAttribute('muted', '');
  const frame = el('div', 'cam-frame');
  const hint = el('p', 'cam-hint', '将条码对准框内');
  const error = el('p', 'cam-error');
  error.hidden = true;
  error.setAttribute('role', 'alert');
  const bar = el('div', 'cam-bar');
  const torchBtn = el('button', 'cam-btn cam-torch', '手电筒');
  torchBtn.type = 'button';
  torchBtn.hidden = true;
  const photoBtn = el('button', 'cam-btn cam-photo', '拍照识别');
  photoBtn.type = 'button';
  photoBtn.hidden = true;
  const closeBtn = el('button', 'cam-btn cam-close', '关闭');
  closeBtn.type = 'button';
  const file = el('input', 'cam-file');
  file.type = 'file';
  file.accept = 'image/*';
  file.setAttribute('capture', 'environment');
  file.hidden = true;
  bar.append(torchBtn, photoBtn, closeBtn);
  overlay.append(video, frame, hint, error, bar, file);
  container.append(overlay);

  let stream = null;
  let timer = 0;
  let closed = false;
  let detector = null; // set once the reader is ready
  let detectorPromise = null;
  let torchOn = false;
  const canvas = el('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });

  const handle = {
    get state() { return closed ? 'closed' : overlay.dataset.state; },
    close: () => finish('api'),
  };

  function finish(reason) {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    document.removeEventListener('keydown', onKey, true);
    document.removeEventListener('visibilitychange', onVisibility);
    overlay.remove();
    if (onClose) onClose(reason);
  }

  function found(result) {
    if (closed) return;
    if (navigator.vibrate) navigator.vibrate(80);
    finish('code');
    onCode(result.rawValue, result.format);
  }

  function showError(key, { photo = true } = {}) {
    overlay.dataset.state = 'error';
    overlay.dataset.error = key;
    error.textContent = MESSAGES[key];
    error.hidden = false;
    hint.textContent = '拍照时让条码横向占满画面的一半以上';
    hint.hidden = !photo;
    photoBtn.hidden = !photo;
  }

  function onKey(event) {
    if (event.key === 'Escape') {
      event.preventDefault();
      finish('user');
    }
  }

  function onVisibility() {
    if (document.visibilityState === 'hidden' && stream) finish('hidden');
  }

  function getDetector() {
    if (!detectorPromise) {
      detectorPromise = createDetector({ formats, engine });
      detectorPromise.catch(() => { detectorPromise = null; }); // retried on the next photo
    }
    return detectorPromise;
  }

  // One frame: the native detector reads the video itself; the polyfill gets a scaled copy (one reused canvas).
  async function scanFrame() {
    if (closed) return;
    try {
      if (video.readyState >= 2 && video.videoWidth > 0) {
        let source = video;
        if (detector.engine !== 'native') {
          const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
          const w = Math.round(video.videoWidth * scale);
          const h = Math.round(video.videoHeight * scale);
          if (canvas.width !== w || canvas.height !== h) {
            canvas.width = w;
            canvas.height = h;
          }
          ctx.drawImage(video, 0, 0, w, h);
          source = ctx.getImageData(0, 0, w, h);
        }
        const results = await detector.detect(source);
        if (results.length && !closed) {
          found(results[0]);
          return;
        }
      }
    } catch (err) {
      console.warn('camera scan: frame not read', err);
    }
    if (!closed) timer = setTimeout(scanFrame, SCAN_INTERVAL_MS);
  }

  async function scanPhoto(blob) {
    overlay.dataset.state = 'decoding';
    error.hidden = true;
    hint.hidden = false;
    hint.textContent = '正在识别照片…';
    let results;
    try {
      const reader = await getDetector();
      let bitmap;
      try {
        bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' }); // upright as the phone took it
      } catch {
        try {
          bitmap = await createImageBitmap(blob); // an older engine without the option
        } catch {
          if (!closed) showError('photoBad');
          return;
        }
      }
      // A phone's photo is 12 MP or more: scaled down like a video frame (barcodes stay several pixels per module).
      const scale = Math.min(1, (MAX_SIDE * 2) / Math.max(bitmap.width, bitmap.height));
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      results = await reader.detect(reader.engine === 'native' ? canvas : ctx.getImageData(0, 0, canvas.width, canvas.height));
    } catch (err) {
      if (closed) return;
      showError(err && err.code === 'engine' ? 'engine' : 'photoBad');
      return;
    }
    if (closed) return;
    if (results.length) found(results[0]);
    else showError('photoNone');
  }

  closeBtn.addEventListener('click', () => finish('user'));
  photoBtn.addEventListener('click', () => {
    file.value = '';
    file.click();
  });
  file.addEventListener('change', () => {
    if (file.files && file.files[0]) scanPhoto(file.files[0]);
  });
  torchBtn.addEventListener('click', async () => {
    const track = stream && stream.getVideoTracks()[0];
    if (!track) return;
    try {
      await track.applyConstraints({ advanced: [{ torch: !torchOn }] });
      torchOn = !torchOn;
      torchBtn.setAttribute('aria-pressed', String(torchOn));
    } catch {
      torchBtn.hidden = true;
    }
  });
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('visibilitychange', onVisibility);

  const mode = cameraAvailable();
  if (mode === null) {
    showError('unsupported', { photo: false });
    return handle;
  }
  if (mode === 'photo') {
    showError(globalThis.isSecureContext ? 'unsupported' : 'insecure');
    getDetector().catch(() => {}); // the decoder loads while the person takes the photo
    return handle;
  }

  // The camera and the decoder start together; the decoder's failure (its .wasm not cached, no network) is reported
  // as such, the camera's as the camera's.
  const detecting = getDetector();
  detecting.catch(() => {});
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
    });
  } catch (err) {
    if (!closed) showError(cameraError(err));
    return handle;
  }
  if (closed) {
    for (const track of stream.getTracks()) track.stop();
    stream = null;
    return handle;
  }
  video.srcObject = stream;
  try {
    await video.play();
  } catch {
    // autoplay of a muted inline video is allowed everywhere that matters; frames still arrive if it was refused
  }
  try {
    detector = await detecting;
  } catch (err) {
    if (!closed) showError(err && err.code === 'engine' ? 'engine' : 'failed', { photo: false });
    for (const track of stream ? stream.getTracks() : []) track.stop();
    stream = null;
    return handle;
  }
  if (closed) return handle;
  const track = stream.getVideoTracks()[0];
  const caps = track && track.getCapabilities ? track.getCapabilities() : {};
  torchBtn.hidden = !caps.torch;
  overlay.dataset.state = 'scanning';
  overlay.dataset.engine = detector.engine;
  scanFrame();
  return handle;
}
