// kiln's page: every view is built from the JSON API with DOM nodes and
// text nodes only. Nothing that comes from a file (names, prompts, graphs)
// is ever parsed as HTML.

const CELL = 180;
const GAP = 8;
const PAGE = 200;
const FAR_PAGE = 1000;

const $ = (id) => document.getElementById(id);
const view = $('view');

// ---------------------------------------------------------------- helpers

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    // Through the CSS object model: the policy forbids style attributes.
    else if (key === 'style') node.style.cssText = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, ...options });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

function toast(text, bad = false) {
  const node = el('div', { class: bad ? 'toast bad' : 'toast', role: 'status' }, text);
  $('toasts').append(node);
  setTimeout(() => node.remove(), bad ? 9000 : 4000);
}

function plural(n, word) {
  const many = /(s|x|z|ch|sh)$/.test(word) ? `${word}es` : `${word}s`;
  return `${n.toLocaleString()} ${n === 1 ? word : many}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without a secure context (a non-loopback address over plain HTTP)
    // the clipboard API is missing: copy through a selection instead.
    const area = el('textarea', { readonly: true, style: 'position:fixed;left:-9999px' });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  toast(`Copied ${what}`);
}

function go(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

// Links marked data-nav change the view without reloading the page.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-nav]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute('href'));
});
window.addEventListener('popstate', () => route());

// ---------------------------------------------------------------- listing

/** The gallery's listing: what is loaded of one query and order. */
const listing = {
  key: null, q: '', sort: 'date', items: [], total: null, cursor: null, done: false,
  loading: null, error: null, current: -1, partial: false,
  reset(q, sort) {
    Object.assign(this, { key: `${sort}\u0000${q}`, q, sort, items: [], total: null, cursor: null,
      done: false, loading: null, error: null, current: -1, partial: false });
  },
  isLive() { return this.q === '' && this.sort === 'date'; },
  url(limit, cursor) {
    const p = new URLSearchParams({ sort: this.sort, limit: String(limit) });
    if (this.q) p.set('q', this.q);
    if (cursor) p.set('cursor', cursor);
    return `/api/assets?${p}`;
  },
  /** Loads the next page; resolves when it is in. */
  more(limit = PAGE) {
    if (this.done) return Promise.resolve();
    if (this.loading) return this.loading;
    const key = this.key;
    this.loading = api(this.url(limit, this.cursor)).then((page) => {
      if (key !== this.key) return;
      const seen = new Set(this.items.map((a) => a.id));
      for (const a of page.assets) if (!seen.has(a.id)) this.items.push(a);
      this.total = page.total;
      this.cursor = page.next_cursor;
      this.done = !page.next_cursor;
      this.error = null;
    }).catch((e) => {
      if (key === this.key) { this.error = e.message; this.done = true; }
    }).finally(() => {
      if (key === this.key) this.loading = null;
    });
    return this.loading;
  },
  /**
   * Brings the head of the live listing (newest first) up to date. Assets
   * become browsable out of order (several workers), so each new one is put
   * in its place by id, not only in front.
   */
  async refreshHead(browsable = null) {
    if (!this.isLive() || this.loading) return false;
    const key = this.key;
    // The head is read deep enough to hold every asset that became
    // browsable since the last refresh, and a page more.
    const grown = browsable === null || this.total === null ? 0 : Math.max(0, browsable - this.total);
    const page = await api(this.url(Math.min(FAR_PAGE, PAGE + grown), null));
    if (key !== this.key || this.loading) return false;
    const currentId = this.current >= 0 ? this.items[this.current].id : null;
    const before = this.items.length;
    const known = new Set(this.items.map((a) => a.id));
    const missing = page.assets.filter((a) => !known.has(a.id));
    this.total = page.total;
    if (before === 0 || (missing.length === page.assets.length && page.next_cursor)) {
      // Nothing loaded yet, or more arrived than one page holds: start over.
      this.items = page.assets;
      this.cursor = page.next_cursor;
      this.done = !page.next_cursor;
    } else if (missing.length) {
      this.items = this.items.concat(missing).sort((a, b) => b.id - a.id);
      if (page.assets.length >= before) {
        this.cursor = page.next_cursor;
        this.done = !page.next_cursor;
      }
    }
    if (this.done && this.items.length < this.total) await this.reloadLoaded();
    if (currentId !== null) this.current = this.items.findIndex((a) => a.id === currentId);
    return this.items.length !== before || missing.length > 0;
  },
  /** Loads again, from the top, as much as was loaded: for an asset that
   * became browsable below the head. */
  async reloadLoaded() {
    const key = this.key;
    const want = this.items.length + 1;
    let items = [];
    let cursor = null;
    do {
      const page = await api(this.url(FAR_PAGE, cursor));
      if (key !== this.key) return;
      items = items.concat(page.assets);
      cursor = page.next_cursor;
      this.total = page.total;
    } while (cursor && items.length < want);
    this.items = items;
    this.cursor = cursor;
    this.done = !cursor;
  },
  count() {
    return this.done ? this.items.length : Math.max(this.total ?? 0, this.items.length);
  },
};

// ---------------------------------------------------------------- gallery

const grid = { root: null, tiles: new Map(), cols: 1, cell: CELL, frame: 0 };

function columns() {
  const width = grid.root ? grid.root.clientWidth : window.innerWidth;
  return Math.max(1, Math.floor((width + GAP) / (CELL + GAP)));
}

function scheduleRender() {
  if (!grid.frame) grid.frame = requestAnimationFrame(() => { grid.frame = 0; renderGrid(); });
}

function tileFor(index, asset) {
  const img = asset.thumbnail_url
    ? el('img', { src: asset.thumbnail_url, alt: asset.name, loading: 'lazy', decoding: 'async', draggable: 'false' })
    : el('div', { class: 'placeholder' }, 'no preview');
  const tile = el('a', { class: 'tile', href: asset.url, 'data-nav': true, title: asset.path, 'data-id': asset.id },
    img, el('span', { class: 'name' }, asset.name));
  tile.dataset.index = String(index);
  return tile;
}

/** Draws only the rows in and near the viewport: the DOM stays small at any size. */
function renderGrid() {
  if (!grid.root || !grid.root.isConnected) return;
  grid.cols = columns();
  // Tiles share out the row's width, so the grid has no ragged right edge.
  const cell = Math.max(CELL, Math.floor((grid.root.clientWidth + GAP) / grid.cols) - GAP);
  if (cell !== grid.cell) {
    grid.cell = cell;
    grid.root.style.setProperty('--cell', `${cell}px`);
  }
  const count = listing.count();
  const rows = Math.ceil(count / grid.cols);
  const rowHeight = grid.cell + GAP;
  grid.root.style.height = `${Math.max(0, rows * rowHeight - GAP)}px`;
  const top = grid.root.getBoundingClientRect().top + window.scrollY;
  const first = Math.max(0, Math.floor((window.scrollY - top) / rowHeight) - 2);
  const last = Math.min(rows - 1, Math.ceil((window.scrollY + window.innerHeight - top) / rowHeight) + 2);
  const from = first * grid.cols;
  const to = Math.min(count, (last + 1) * grid.cols);
  if (to > listing.items.length && !listing.done) {
    const far = to - listing.items.length > PAGE;
    listing.more(far ? FAR_PAGE : PAGE).then(scheduleRender);
  }
  const wanted = new Set();
  for (let i = from; i < Math.min(to, listing.items.length); i++) {
    const asset = listing.items[i];
    const key = `${asset.id}`;
    wanted.add(key);
    let tile = grid.tiles.get(key);
    if (!tile) {
      tile = tileFor(i, asset);
      grid.tiles.set(key, tile);
      grid.root.append(tile);
    }
    tile.dataset.index = String(i);
    tile.style.left = `${(i % grid.cols) * (grid.cell + GAP)}px`;
    tile.style.top = `${Math.floor(i / grid.cols) * rowHeight}px`;
    tile.classList.toggle('current', i === listing.current);
  }
  for (const [key, tile] of grid.tiles) {
    if (!wanted.has(key)) { tile.remove(); grid.tiles.delete(key); }
  }
  updateSummary();
}

/** Whether a query has a `~` term: ranked by meaning, whatever the order. */
function byMeaning(q) {
  return /(^|\s)~/.test(q || '');
}

function updateSummary() {
  const summary = $('summary');
  if (!summary) return;
  summary.replaceChildren();
  if (listing.error) {
    summary.append(el('span', { class: 'error' }, listing.error));
    return;
  }
  const n = listing.count();
  if (n === 0 && listing.loading && listing.total === null) {
    // The first page is on its way (a `~` query loads the model first).
    summary.append(el('span', {}, listing.q ? `Searching for “${listing.q}”…` : 'Loading…'));
    return;
  }
  const what = listing.q ? `${plural(n, 'match')} for “${listing.q}”` : `${plural(n, 'asset')}`;
  summary.append(el('span', {}, what));
  if (byMeaning(listing.q)) summary.append(el('span', { class: 'note' }, 'ranked by meaning (CLIP)'));
  if (listing.q && listing.q.startsWith('session:')) summary.append(el('a', { href: '/sessions', 'data-nav': true }, 'all sessions'));
  if (listing.q || listing.sort !== 'date') summary.append(el('a', { href: '/', 'data-nav': true }, 'show everything'));
  if (n === 0 && listing.done) {
    summary.append(el('span', {}, listing.q
      ? 'Nothing matches yet (assets become searchable a moment after they appear).'
      : 'Drop images here, or import a folder with `kiln import`.'));
  }
}

async function showGallery(params) {
  const q = (params.get('q') || '').trim();
  const sort = params.get('sort') || (q ? 'relevance' : 'date');
  $('q').value = q;
  $('sort').value = sort;
  // A `~` term orders by meaning; the order menu has no say.
  $('sort').disabled = byMeaning(q);
  $('sort').title = byMeaning(q) ? 'A ~ term ranks by meaning' : '';
  document.title = q ? `${q} · kiln` : 'kiln';
  const key = `${sort}\u0000${q}`;
  if (listing.partial) {
    // The listing began at an asset opened by its address: load it from
    // the top, keeping that asset as the current one.
    const id = listing.current >= 0 ? listing.items[listing.current].id : null;
    listing.reset(q, sort);
    await listing.more();
    for (let pages = 0; id !== null && pages < 20; pages++) {
      const at = listing.items.findIndex((a) => a.id === id);
      if (at >= 0) { listing.current = at; break; }
      if (listing.done) break;
      await listing.more(FAR_PAGE);
    }
  }
  if (listing.key !== key) listing.reset(q, sort);
  grid.root = el('div', { id: 'grid' });
  grid.cell = 0;
  grid.tiles.clear();
  view.replaceChildren(el('p', { class: 'summary', id: 'summary' }), grid.root);
  if (listing.items.length === 0) await listing.more();
  renderGrid();
  if (listing.current >= 0) scrollToCurrent();
}

function scrollToCurrent() {
  if (!grid.root || listing.current < 0) return;
  const rowHeight = grid.cell + GAP;
  const top = grid.root.getBoundingClientRect().top + window.scrollY;
  const y = top + Math.floor(listing.current / grid.cols) * rowHeight;
  if (y < window.scrollY + 60 || y + rowHeight > window.scrollY + window.innerHeight) {
    window.scrollTo({ top: Math.max(0, y - window.innerHeight / 3) });
  }
  scheduleRender();
}

window.addEventListener('scroll', scheduleRender, { passive: true });
window.addEventListener('resize', scheduleRender);

// ---------------------------------------------------------------- detail

function param(dl, name, value) {
  if (value === null || value === undefined || value === '') return;
  dl.append(el('dt', {}, name), el('dd', {}, String(value)));
}

function strip(title, assets) {
  if (!assets || assets.length === 0) return null;
  return el('section', { class: 'box' }, el('h2', {}, title),
    el('div', { class: 'strip' }, assets.map((a) => el('a', { href: a.url, 'data-nav': true, title: a.path },
      a.thumbnail_url ? el('img', { src: a.thumbnail_url, alt: a.name, loading: 'lazy' }) : a.name))));
}

/** Makes sure the asset's neighbours in the listing are known. */
async function placeInListing(id) {
  let index = listing.items.findIndex((a) => a.id === id);
  if (index < 0 && listing.key === null) {
    // Opened directly: walk the default listing from this asset on.
    listing.reset('', 'date');
    listing.partial = true;
    listing.cursor = `i${id + 1}`;
    await listing.more(PAGE);
    index = listing.items.findIndex((a) => a.id === id);
  }
  if (index >= 0 && index + 1 >= listing.items.length && !listing.done) await listing.more();
  listing.current = index;
  return index;
}

async function showAsset(id) {
  let asset;
  try {
    asset = await api(`/api/assets/${id}`);
  } catch (e) {
    view.replaceChildren(el('p', { class: 'empty' }, e.message), el('p', { class: 'empty' }, el('a', { href: '/', 'data-nav': true }, 'Back to the gallery')));
    return;
  }
  const g = asset.generation || {};
  const name = (asset.paths[0] || '').split('/').pop() || `asset ${id}`;
  document.title = `${name} · kiln`;
  const index = await placeInListing(id);
  const prev = index > 0 ? listing.items[index - 1] : null;
  const next = index >= 0 && index + 1 < listing.items.length ? listing.items[index + 1] : null;

  const image = asset.urls.proxy || asset.urls.thumbnail;
  const format = ((asset.facts || {}).thumbnail || {}).format;
  // A video plays from its file, its frame shown until it starts.
  const video = (format === 'MP4' || format === 'Matroska') && !asset.original_missing;
  const stage = el('div', { class: 'stage' }, video
    ? el('video', { src: asset.urls.original, poster: image, controls: true, loop: true, preload: 'metadata', id: 'video' })
    : image
      ? el('a', { href: asset.urls.original, target: '_blank', rel: 'noopener', title: 'Open the original file' },
        el('img', { src: image, alt: name, id: 'proxy' }))
      : el('p', { class: 'empty' }, 'No preview yet'));

  const actions = el('div', { class: 'actions' },
    g.positive_prompt ? el('button', { id: 'copy-prompt', onclick: () => copy(g.positive_prompt, 'the prompt') }, 'Copy prompt') : null,
    asset.a1111_parameters ? el('button', { id: 'copy-params', onclick: () => copy(asset.a1111_parameters, 'the parameters') }, 'Copy parameters') : null,
    asset.urls.workflow ? el('a', { class: 'button', href: asset.urls.workflow, download: true }, 'Workflow JSON') : null,
    asset.urls.prompt ? el('a', { class: 'button', href: asset.urls.prompt, download: true }, 'API prompt JSON') : null,
    asset.original_missing ? el('span', { class: 'state dead' }, 'original file missing')
      : el('a', { class: 'button', href: asset.urls.original, target: '_blank', rel: 'noopener' }, 'Open original'));

  const nav = el('div', { class: 'nav' },
    prev ? el('a', { href: prev.url, 'data-nav': true, id: 'prev' }, '← previous') : null,
    el('a', { href: backUrl(), 'data-nav': true }, 'gallery (Esc)'),
    next ? el('a', { href: next.url, 'data-nav': true, id: 'next' }, 'next →') : null);

  const prompts = el('section', { class: 'box', id: 'prompts' }, el('h2', {}, 'Prompt'),
    g.positive_prompt ? el('p', { class: 'prompt', id: 'prompt' }, g.positive_prompt) : el('p', { class: 'prompt negative' }, 'The file states no prompt.'),
    g.negative_prompt ? el('h2', {}, 'Negative prompt') : null,
    g.negative_prompt ? el('p', { class: 'prompt negative', id: 'negative' }, g.negative_prompt) : null);

  const dl = el('dl', { class: 'params', id: 'params' });
  param(dl, 'Model', g.model);
  if (Array.isArray(g.loras) && g.loras.length) {
    param(dl, 'LoRAs', g.loras.map((l) => (l.strength === null || l.strength === undefined ? l.name : `${l.name} (${l.strength})`)).join(', '));
  }
  param(dl, 'Seed', g.seed);
  param(dl, 'Steps', g.steps);
  param(dl, 'CFG', g.cfg);
  param(dl, 'Sampler', g.sampler);
  param(dl, 'Scheduler', g.scheduler);
  if (g.width && g.height) param(dl, 'Size', `${g.width} × ${g.height}`);
  if (asset.width && asset.height) param(dl, 'Pixels', `${asset.width} × ${asset.height}`);
  const motion = asset.animation || {};
  const length = [
    Number.isFinite(motion.duration) ? `${motion.duration.toFixed(1)} s` : null,
    Number.isFinite(motion.frames) ? `${motion.frames} frames` : null,
    Number.isFinite(motion.fps) ? `${Math.round(motion.fps * 100) / 100} fps` : null,
  ].filter(Boolean).join(' · ');
  if (length) param(dl, 'Motion', length);
  param(dl, 'Denoise', g.denoise);
  param(dl, 'CLIP skip', g.clip_skip);
  param(dl, 'Generator', g.generator);
  param(dl, 'Format', g.metadata_format);

  const quality = asset.quality;
  let qualityBox = null;
  if (quality && typeof quality === 'object') {
    const q = el('dl', { class: 'params' });
    for (const [key, value] of Object.entries(quality)) {
      param(q, key, typeof value === 'number' ? Math.round(value * 100) / 100 : JSON.stringify(value));
    }
    qualityBox = el('section', { class: 'box' }, el('h2', {}, 'Quality'), q);
  }

  const states = el('div', { class: 'states' }, Object.entries(asset.stages).map(([stageName, state]) =>
    el('span', { class: `state ${state}`, title: asset.skipped[stageName] || state }, `${stageName}: ${state}`)));

  const problems = asset.metadata_problems && asset.metadata_problems.length
    ? el('section', { class: 'box' }, el('h2', {}, 'Metadata problems'),
      el('ul', { class: 'problems' }, asset.metadata_problems.map((p) =>
        el('li', {}, typeof p === 'object' && p ? `${p.location || ''}: ${p.message || ''}` : String(p)))))
    : null;

  const session = asset.session
    ? el('a', { href: `/?q=${encodeURIComponent(`session:${asset.session}`)}`, 'data-nav': true }, asset.session)
    : null;
  const more = el('dl', { class: 'params' });
  param(more, 'State', asset.state);
  param(more, 'Hash', asset.content_hash);
  const side = el('div', { class: 'side' },
    nav,
    el('h1', { id: 'title' }, name),
    el('ul', { class: 'paths' }, asset.paths.map((p) => el('li', {}, p))),
    actions,
    prompts,
    el('section', { class: 'box' }, el('h2', {}, 'Parameters'), dl),
    qualityBox,
    session ? el('section', { class: 'box' }, el('h2', {}, 'Session'), session) : null,
    el('div', { id: 'similar' }),
    strip('Near-duplicates', asset.near_duplicate_assets),
    problems,
    el('section', { class: 'box' }, el('h2', {}, 'Stages'), states, more));
  view.replaceChildren(el('div', { class: 'detail', 'data-asset': id }, stage, side));
  window.scrollTo({ top: 0 });

  api(asset.urls.similar).then((similar) => {
    const box = strip(similar.by === 'semantic' ? 'Similar in meaning' : 'Similar', similar.hits);
    const slot = $('similar');
    if (box && slot) slot.replaceWith(box);
  }).catch(() => {});
}

function backUrl() {
  const p = new URLSearchParams();
  if (listing.q) p.set('q', listing.q);
  if (listing.sort && !(listing.sort === 'date' && !listing.q) && !(listing.sort === 'relevance' && listing.q)) p.set('sort', listing.sort);
  const text = p.toString();
  return text ? `/?${text}` : '/';
}

// ---------------------------------------------------------------- status

function tierBar(name, t) {
  const total = Math.max(t.total, t.done + t.dead + t.running + t.retrying, 1);
  const pct = (n) => `${(100 * n) / total}%`;
  const parts = [`${t.done.toLocaleString()} of ${t.total.toLocaleString()} files ${name}`];
  const extra = [];
  if (t.running) extra.push(`${t.running} running`);
  if (t.retrying) extra.push(`${t.retrying} retrying`);
  if (t.dead) extra.push(`${t.dead} failed`);
  if (t.rate > 0) extra.push(`${t.rate.toFixed(1)}/s`);
  if (t.eta_seconds !== null && t.eta_seconds !== undefined && t.done + t.dead < t.total) extra.push(`ETA ${duration(t.eta_seconds)}`);
  return el('div', { class: 'tierbar', 'data-tier': name },
    el('div', { class: 'label' }, el('b', {}, parts[0]), el('span', {}, extra.join(' · '))),
    el('div', { class: 'bar' },
      el('span', { class: 'done', style: `width:${pct(t.done)}` }),
      el('span', { class: 'running', style: `width:${pct(t.running)}` }),
      el('span', { class: 'retrying', style: `width:${pct(t.retrying)}` }),
      el('span', { class: 'dead', style: `width:${pct(t.dead)}` })));
}

function renderProgress(p) {
  const box = $('progress');
  const active = p.imports.filter((i) => i.state !== 'done');
  if (active.length === 0) { box.hidden = true; box.replaceChildren(); return; }
  const sum = { browsable: null, searchable: null, enriched: null };
  for (const name of Object.keys(sum)) {
    const s = { total: 0, done: 0, running: 0, retrying: 0, dead: 0, rate: 0, eta_seconds: null };
    for (const i of active) {
      const t = i.tiers[name];
      s.total += t.total; s.done += t.done; s.running += t.running; s.retrying += t.retrying; s.dead += t.dead; s.rate += t.rate;
      if (t.eta_seconds !== null) s.eta_seconds = Math.max(s.eta_seconds ?? 0, t.eta_seconds);
    }
    sum[name] = s;
  }
  box.hidden = false;
  box.replaceChildren(tierBar('browsable', sum.browsable), tierBar('searchable', sum.searchable), tierBar('enriched', sum.enriched));
}

/** The status view; `pushed` is progress the event stream just brought. */
async function showStatus(pushed = null) {
  document.title = 'Status · kiln';
  const [status, metrics, progress] = await Promise.all([api('/api/status'), api('/api/metrics'), pushed ?? api('/api/progress')]);
  const tiers = el('section', { class: 'box' }, el('h2', {}, 'All imports'),
    ['browsable', 'searchable', 'enriched'].map((t) => tierBar(t, progress.tiers[t])));
  const imports = el('section', { class: 'box' }, el('h2', {}, 'Recent imports'),
    progress.imports.length === 0 ? el('p', { class: 'empty' }, 'No imports yet.') : null,
    progress.imports.slice().reverse().map((i) => el('div', { class: 'box' },
      el('div', { class: 'label' }, el('b', {}, `#${i.id} `), `${i.root} · ${i.priority} · ${i.state} · ${plural(i.files_seen, 'file')}`),
      ['browsable', 'searchable', 'enriched'].map((t) => tierBar(t, i.tiers[t])))));
  const queue = metrics.ready_by_priority_tier.length === 0
    ? el('p', { class: 'empty' }, 'Nothing is waiting.')
    : el('table', {}, el('tr', {}, el('th', {}, 'priority'), el('th', {}, 'tier'), el('th', { class: 'num' }, 'ready')),
      metrics.ready_by_priority_tier.map((r) => el('tr', {}, el('td', {}, r.priority), el('td', {}, r.tier), el('td', { class: 'num' }, r.ready))));
  const states = ['ready', 'running', 'retrying', 'dead', 'done', 'skipped'];
  const stages = el('table', {}, el('tr', {}, el('th', {}, 'stage'), states.map((s) => el('th', { class: 'num' }, s))),
    Object.entries(metrics.stages).map(([name, counts]) => el('tr', {}, el('td', {}, name),
      states.map((s) => el('td', { class: 'num' }, counts[s] || 0)))));
  const ms = (v) => `${v.toFixed(1)} ms`;
  const engine = el('dl', { class: 'params' });
  param(engine, 'Assets', status.assets);
  param(engine, 'Files', status.files);
  param(engine, 'Ready', metrics.ready);
  param(engine, 'Running', metrics.running);
  param(engine, 'Retrying', metrics.retrying);
  param(engine, 'Failed for good', metrics.dead);
  param(engine, 'Jobs done here', metrics.jobs.completed);
  param(engine, 'Retries here', metrics.jobs.retries);
  param(engine, 'Mean job latency', ms(metrics.jobs.mean_latency_ms));
  param(engine, 'Longest job', ms(metrics.jobs.max_latency_ms));
  param(engine, 'Group commits', `${metrics.commits} (${metrics.commit_ops} operations, mean ${ms(metrics.mean_commit_ms)})`);
  view.replaceChildren(el('div', { class: 'status-grid', id: 'status' },
    tiers,
    el('section', { class: 'box' }, el('h2', {}, 'Engine'), engine),
    el('section', { class: 'box' }, el('h2', {}, 'Queue by priority and tier'), queue),
    el('section', { class: 'box wide' }, el('h2', {}, 'Jobs by stage'), stages),
    imports));
}

// ---------------------------------------------------------------- failed

async function showFailed() {
  document.title = 'Failed · kiln';
  const dead = await api('/api/dead');
  const act = async (url, what) => {
    try {
      const r = await api(url, { method: 'POST' });
      toast(`${what}: ${r.requeued ?? r.purged}`);
    } catch (e) { toast(e.message, true); }
    route();
  };
  const rows = dead.dead.map((d) => el('tr', { 'data-job': d.id },
    el('td', { class: 'path' }, d.asset ? el('a', { href: `/asset/${d.asset}`, 'data-nav': true }, d.path) : d.path),
    el('td', {}, d.stage), el('td', { class: 'num' }, d.attempts), el('td', { class: 'error' }, d.error),
    el('td', {}, el('button', { class: 'retry', onclick: () => act(`/api/dead/${d.id}/retry`, 'Queued again') }, 'Retry'))));
  view.replaceChildren(el('section', { class: 'box', id: 'failed' },
    el('h2', {}, `Failed for good: ${dead.total}`),
    dead.total === 0 ? el('p', { class: 'empty' }, 'Nothing failed.') : el('div', { class: 'actions' },
      el('button', { id: 'retry-all', onclick: () => act('/api/dead/retry-all', 'Queued again') }, 'Retry all'),
      el('button', { class: 'danger', id: 'purge', onclick: () => { if (confirm('Forget every failed job? The files stay where they are.')) act('/api/dead/purge', 'Purged'); } }, 'Purge all')),
    dead.total ? el('table', {}, el('tr', {}, el('th', {}, 'file'), el('th', {}, 'stage'), el('th', { class: 'num' }, 'attempts'), el('th', {}, 'reason'), el('th', {})), rows) : null));
}

function updateFailedCount(n) {
  const link = $('nav-failed');
  link.replaceChildren('Failed');
  if (n > 0) link.append(el('span', { class: 'count' }, n));
}

// ---------------------------------------------------------------- sessions

async function showSessions() {
  document.title = 'Sessions · kiln';
  const data = await api('/api/sessions');
  const time = (s) => (s ? new Date(s * 1000).toLocaleString() : 'time unknown');
  view.replaceChildren(el('h2', {}, plural(data.total, 'session')),
    data.total === 0 ? el('p', { class: 'empty' }, 'Sessions appear once assets are enriched.') : null,
    el('div', { class: 'sessions', id: 'sessions' }, data.sessions.map((s) =>
      el('a', { class: 'session', href: `/?q=${encodeURIComponent(`session:${s.id}`)}`, 'data-nav': true },
        s.cover_url ? el('img', { src: s.cover_url, alt: '', loading: 'lazy' }) : el('div', { class: 'placeholder' }),
        el('div', {}, el('b', {}, s.family || 'unknown'), `${plural(s.assets, 'asset')} · ${time(s.start)}`)))));
}

// ---------------------------------------------------------------- uploads

async function filesOf(dataTransfer) {
  const out = [];
  const walk = (entry) => new Promise((resolve) => {
    if (entry.isFile) {
      entry.file((f) => { out.push(f); resolve(); }, () => resolve());
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      const readAll = () => reader.readEntries(async (entries) => {
        if (entries.length === 0) { resolve(); return; }
        for (const e of entries) await walk(e);
        readAll();
      }, () => resolve());
      readAll();
    } else resolve();
  });
  const entries = [...dataTransfer.items].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (entries.some((e) => e)) {
    for (const e of entries) if (e) await walk(e);
  } else {
    out.push(...dataTransfer.files);
  }
  return out;
}

async function upload(files) {
  files = [...files].filter((f) => !f.name.startsWith('.'));
  if (files.length === 0) return;
  let saved = 0;
  // A few files per request, so one huge drop is not one huge request.
  for (let i = 0; i < files.length;) {
    const form = new FormData();
    let bytes = 0;
    let n = 0;
    while (i < files.length && n < 16 && (n === 0 || bytes + files[i].size < 64 << 20)) {
      form.append('file', files[i], files[i].name);
      bytes += files[i].size; n += 1; i += 1;
    }
    try {
      const r = await fetch('/api/upload', { method: 'POST', body: form });
      const body = await r.json().catch(() => ({ saved: [], errors: [{ name: null, error: `${r.status} ${r.statusText}` }] }));
      saved += body.saved.length;
      for (const e of body.errors) toast(`${e.name || 'upload'}: ${e.error}`, true);
    } catch (e) {
      toast(`Upload failed: ${e.message}`, true);
    }
  }
  if (saved) {
    toast(`Added ${plural(saved, 'image')}`);
    if (listing.isLive()) listing.refreshHead().then(scheduleRender);
  }
}

$('upload').addEventListener('change', (event) => {
  upload(event.target.files);
  event.target.value = '';
});

let dragDepth = 0;
window.addEventListener('dragenter', (e) => {
  if (![...e.dataTransfer.types].includes('Files')) return;
  dragDepth += 1; $('drop').hidden = false;
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('drop').hidden = true;
});
window.addEventListener('dragover', (e) => { if ([...e.dataTransfer.types].includes('Files')) e.preventDefault(); });
window.addEventListener('drop', async (e) => {
  if (![...e.dataTransfer.types].includes('Files')) return;
  e.preventDefault();
  dragDepth = 0; $('drop').hidden = true;
  upload(await filesOf(e.dataTransfer));
});

// ---------------------------------------------------------------- search box

let sortPicked = false;

$('search').addEventListener('submit', (event) => {
  event.preventDefault();
  const q = $('q').value.trim();
  let sort = $('sort').value;
  if (!q && sort === 'relevance') sort = 'date';
  // A new search starts in best-match order; a sort picked for it stays.
  if (q && (sort === 'path' || (sort === 'date' && !listing.q && !sortPicked))) sort = 'relevance';
  sortPicked = false;
  const p = new URLSearchParams();
  if (q) p.set('q', q);
  if (!(q ? sort === 'relevance' : sort === 'date')) p.set('sort', sort);
  const text = p.toString();
  go(text ? `/?${text}` : '/');
});
$('sort').addEventListener('change', () => { sortPicked = true; $('search').requestSubmit(); });

// ---------------------------------------------------------------- keyboard

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest('input, textarea, select');
  if (typing) {
    if (event.key === 'Escape') event.target.blur();
    return;
  }
  const detail = view.querySelector('.detail');
  if (detail) {
    if (event.key === 'ArrowLeft' && $('prev')) { event.preventDefault(); go($('prev').getAttribute('href')); }
    else if (event.key === 'ArrowRight' && $('next')) { event.preventDefault(); go($('next').getAttribute('href')); }
    else if (event.key === 'Escape') { event.preventDefault(); go(backUrl()); }
    return;
  }
  if (grid.root && grid.root.isConnected) {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -grid.cols, ArrowDown: grid.cols };
    if (event.key in moves) {
      event.preventDefault();
      const n = listing.items.length;
      if (n === 0) return;
      listing.current = Math.min(n - 1, Math.max(0, (listing.current < 0 ? 0 : listing.current + moves[event.key])));
      scrollToCurrent();
    } else if (event.key === 'Enter' && listing.current >= 0) {
      event.preventDefault();
      go(listing.items[listing.current].url);
    } else if (event.key === '/') {
      event.preventDefault();
      $('q').focus();
    }
  }
});

// ---------------------------------------------------------------- events

let lastBrowsable = null;
let lastDead = null;

// While files arrive, every refresh of the newest-first grid brings a new
// screenful of thumbnails to fetch, decode and draw, on the same cores as
// the import. A refresh that showed something is followed by the next one
// HEAD_REFRESH ms later at the earliest; a change meanwhile is shown then.
const HEAD_REFRESH = 2000;
let headTimer = 0;
let headAgain = false;
let headAt = -Infinity;

function refreshHeadSoon() {
  if (headTimer) { headAgain = true; return; }
  const wait = Math.max(0, headAt + HEAD_REFRESH - performance.now());
  headTimer = setTimeout(() => {
    headAgain = false;
    listing.refreshHead(lastBrowsable).then((changed) => {
      if (changed) { headAt = performance.now(); scheduleRender(); }
    }).catch(() => {}).finally(() => {
      headTimer = 0;
      if (headAgain) refreshHeadSoon();
    });
  }, wait);
}

function onProgress(p) {
  renderProgress(p);
  const dead = ['browsable', 'searchable', 'enriched'].reduce((n, t) => n + (p.tiers[t] ? p.tiers[t].dead : 0), 0);
  if (dead !== lastDead) {
    lastDead = dead;
    api('/api/dead').then((d) => updateFailedCount(d.total)).catch(() => {});
  }
  const here = location.pathname;
  if (here === '/' && p.browsable !== lastBrowsable) {
    lastBrowsable = p.browsable;
    refreshHeadSoon();
  } else if (here === '/status') {
    showStatus(p).catch(() => {});
  }
}

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('progress', (e) => {
    try { onProgress(JSON.parse(e.data)); } catch { /* a malformed message is skipped */ }
  });
}

// ---------------------------------------------------------------- router

async function route() {
  const here = location.pathname;
  for (const [id, path] of [['nav-sessions', '/sessions'], ['nav-status', '/status'], ['nav-failed', '/failed']]) {
    $(id).classList.toggle('here', here === path);
  }
  try {
    const asset = here.match(/^\/asset\/(\d+)$/);
    if (asset) await showAsset(Number(asset[1]));
    else if (here === '/status') await showStatus();
    else if (here === '/failed') await showFailed();
    else if (here === '/sessions') await showSessions();
    else await showGallery(new URLSearchParams(location.search));
  } catch (e) {
    view.replaceChildren(el('p', { class: 'empty' }, `Cannot show this page: ${e.message}`));
  }
}

// The token may arrive in the address once; it lives in a cookie after.
if (new URLSearchParams(location.search).has('token')) {
  const p = new URLSearchParams(location.search);
  p.delete('token');
  const text = p.toString();
  history.replaceState(null, '', `${location.pathname}${text ? `?${text}` : ''}`);
}
route();
connect();
