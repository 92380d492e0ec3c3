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

/** Replaces a node's children; `null`, `undefined` and `false` are left
 * out (the DOM's own replaceChildren would write them as text). */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
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
  key: null, q: '', sort: 'date', collection: null, items: [], total: null, cursor: null, done: false,
  loading: null, error: null, current: -1, partial: false, stale: false,
  /** A search (`q`, `sort`), or a collection's members in their order. */
  reset(q, sort, collection = null) {
    const key = collection === null ? `${sort}\u0000${q}` : `collection\u0000${collection}`;
    Object.assign(this, { key, q, sort, collection, items: [], total: null, cursor: null,
      done: false, loading: null, error: null, current: -1, partial: false, stale: false });
    selection.clear();
  },
  isLive() { return this.collection === null && this.q === '' && this.sort === 'date'; },
  url(limit, cursor) {
    if (this.collection !== null) {
      const p = new URLSearchParams({ name: this.collection, limit: String(limit) });
      if (cursor) p.set('cursor', cursor);
      return `/api/collection?${p}`;
    }
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
  /** Loads again as much as is loaded (one load at a time, as `more`). */
  reloadLoaded() {
    if (this.loading) return this.loading;
    const key = this.key;
    const want = this.items.length + 1;
    this.loading = (async () => {
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
    })().finally(() => {
      if (key === this.key) this.loading = null;
    });
    return this.loading;
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
    img, el('span', { class: 'badge' }), el('span', { class: 'name' }, asset.name));
  tile.dataset.index = String(index);
  updateBadge(tile, asset);
  return tile;
}

/** The compact rating and favorite mark of a tile, redrawn only when it changed. */
function updateBadge(tile, asset) {
  const c = asset.curation || {};
  const text = `${c.rating > 0 ? `★${c.rating}` : ''}${c.favorite ? ' ♥' : ''}`.trim();
  const badge = tile.querySelector('.badge');
  if (badge && badge.textContent !== text) badge.textContent = text;
  if (badge) badge.hidden = text === '';
  const rejected = (c.tags || []).some((t) => t.toLowerCase() === 'rejected');
  tile.classList.toggle('rejected', rejected);
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
    tile.classList.toggle('selected', selection.ids.has(asset.id));
    updateBadge(tile, asset);
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
  if (listing.collection !== null) {
    const name = listing.collection;
    summary.append(el('span', {}, `${plural(n, 'asset')} in “${name}”`),
      el('span', { class: 'note' }, 'in the collection’s order'),
      el('button', { id: 'collection-rename', class: 'link', onclick: () => openRenamer(name) }, 'Rename…'),
      el('button', { id: 'collection-delete', class: 'link danger', onclick: () => openDeleter(name, n) }, 'Delete…'),
      el('a', { href: '/collections', 'data-nav': true }, 'all collections'));
    if (n === 0 && listing.done) summary.append(el('span', {}, 'Empty: select assets in the gallery and add them from the bar below.'));
    return;
  }
  const what = listing.q ? `${plural(n, 'match')} for “${listing.q}”` : `${plural(n, 'asset')}`;
  summary.append(el('span', {}, what));
  if (listing.stale || (listing.loading && listing.items.length > 0)) summary.append(el('span', { class: 'note' }, 'updating…'));
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
  await mountGrid();
}

/** A collection's members in its order, in the same grid. */
async function showCollection(name) {
  document.title = `${name} · kiln`;
  $('q').value = '';
  $('sort').disabled = true;
  if (listing.key !== `collection\u0000${name}`) listing.reset('', 'date', name);
  await mountGrid();
}

async function mountGrid() {
  grid.root = el('div', { id: 'grid', onclick: onTileClick });
  grid.cell = 0;
  grid.tiles.clear();
  view.replaceChildren(el('p', { class: 'summary', id: 'summary' }), grid.root);
  if (listing.stale) await refreshStale();
  if (listing.items.length === 0) await listing.more();
  renderGrid();
  renderSelection();
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

// ---------------------------------------------------------------- curation

/** The grid's selection: asset ids, and where a shift-click range starts. */
const selection = {
  ids: new Set(),
  anchor: -1,
  clear() {
    this.ids.clear();
    this.anchor = -1;
    showSelection();
  },
};

/** Shows the selection at once, on the tiles drawn and in the bar, rather
 * than at the next frame's render. */
function showSelection() {
  for (const tile of grid.tiles.values()) {
    tile.classList.toggle('selected', selection.ids.has(Number(tile.dataset.id)));
  }
  renderSelection();
}

/** The asset the detail view shows, with its curation, while it is shown. */
const shown = { asset: null };

/** The open tag editor or collection picker, if any. */
let popover = null;

function collectionUrl(name) {
  return `/collections?${new URLSearchParams({ name })}`;
}

/** Ctrl/cmd-click toggles a tile in the selection, shift-click adds the
 * range from the last one clicked; a plain click opens the asset. */
function onTileClick(event) {
  const tile = event.target.closest('.tile');
  if (!tile || event.button !== 0) return;
  const index = Number(tile.dataset.index);
  const asset = listing.items[index];
  if (!asset) return;
  if (event.ctrlKey || event.metaKey) {
    event.preventDefault();
    if (selection.ids.has(asset.id)) selection.ids.delete(asset.id);
    else selection.ids.add(asset.id);
    selection.anchor = index;
  } else if (event.shiftKey) {
    event.preventDefault();
    let from = selection.anchor;
    if (from < 0) from = listing.current >= 0 ? listing.current : index;
    const [a, b] = from <= index ? [from, index] : [index, from];
    for (let i = a; i <= b && i < listing.items.length; i++) selection.ids.add(listing.items[i].id);
    if (selection.anchor < 0) selection.anchor = from;
  } else {
    return;
  }
  // The link handler on the document leaves modified clicks alone.
  event.stopPropagation();
  listing.current = index;
  showSelection();
  scheduleRender();
}

function selected() {
  return [...selection.ids];
}

/** The selection in the order the grid shows it. */
function selectedInOrder() {
  const at = new Map(listing.items.map((a, i) => [a.id, i]));
  const place = (id) => (at.has(id) ? at.get(id) : Number.MAX_SAFE_INTEGER);
  return selected().sort((x, y) => place(x) - place(y));
}

/** The bar under a grid with a selection: its count and what can be done
 * to all of it. */
function renderSelection() {
  const bar = $('selbar');
  const n = selection.ids.size;
  if (n === 0 || !grid.root || !grid.root.isConnected) {
    bar.hidden = true;
    bar.replaceChildren();
    return;
  }
  bar.hidden = false;
  const stars = [1, 2, 3, 4, 5].map((r) => el('button', { class: 'star', 'data-rating': r, title: `Rate ${r} (key ${r})`,
    onclick: () => curate(selected(), { rating: r }, `Rated ★${r}:`) }, `★${r}`));
  fill(bar,
    el('b', { id: 'selcount' }, `${plural(n, 'asset')} selected`),
    el('span', { class: 'group' }, stars,
      el('button', { title: 'No rating (key 0)', onclick: () => curate(selected(), { rating: 0 }, 'Cleared the rating of') }, '0')),
    el('button', { id: 'sel-favorite', title: 'Favorite (key F)', onclick: () => toggleFavorite(selected()) }, '♥ Favorite'),
    el('button', { id: 'sel-tags', title: 'Tags (key T)', onclick: () => openTagger(selected()) }, 'Tags…'),
    el('button', { id: 'sel-collect', onclick: () => openCollector(selected()) }, 'Add to collection…'),
    listing.collection !== null
      ? [el('button', { id: 'sel-move-start', title: 'Move to the start of the collection, in the order shown', onclick: () => moveInCollection(listing.collection, selectedInOrder(), 'start') }, 'Move to start'),
        el('button', { id: 'sel-move-end', title: 'Move to the end of the collection, in the order shown', onclick: () => moveInCollection(listing.collection, selectedInOrder(), 'end') }, 'Move to end'),
        el('button', { id: 'sel-uncollect', class: 'danger', onclick: () => removeFromCollection(listing.collection, selected()) }, 'Remove from collection')]
      : null,
    el('button', { id: 'sel-clear', title: 'Clear the selection (Esc)', onclick: () => { selection.clear(); scheduleRender(); } }, 'Clear'),
    el('span', { class: 'hint' }, 'keys: 0–5 rate · F favorite · T tags · Esc clears'));
}

/** What the page knows of an asset's curation. */
function curationOf(id, byId = null) {
  if (shown.asset && shown.asset.id === id) return shown.asset.curation || {};
  const item = byId ? byId.get(id) : listing.items.find((a) => a.id === id);
  return (item && item.curation) || {};
}

async function post(url, body) {
  return api(url, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** One change to every asset in `ids`, in one request (one transaction). */
async function curate(ids, change, what = null) {
  if (ids.length === 0) return null;
  let answer;
  try {
    answer = await post('/api/curate', { ids, ...change });
  } catch (e) {
    toast(e.message, true);
    return null;
  }
  took(answer.assets);
  if (what) toast(`${what} ${plural(ids.length, 'asset')}`);
  return answer;
}

/** Shows curation the server answered with, at once, wherever it is drawn. */
function took(assets) {
  const byId = new Map(assets.map((a) => [a.id, a]));
  const fresh = (a) => ({ rating: a.rating, favorite: a.favorite, tags: a.tags, collections: a.collections, updated_ns: a.updated_ns });
  for (const item of listing.items) {
    const a = byId.get(item.id);
    if (a) item.curation = fresh(a);
  }
  if (shown.asset && byId.has(shown.asset.id)) {
    shown.asset.curation = fresh(byId.get(shown.asset.id));
    drawCuration();
  }
  for (const tile of document.querySelectorAll('.cull .tile')) {
    const a = byId.get(Number(tile.dataset.id));
    if (a) updateBadge(tile, { curation: fresh(a) });
  }
  // A query that selects by curation (`rating:>=4`, `-tag:x`) is loaded
  // again rather than shown as it was.
  if (CURATION_TERM.test(listing.q)) {
    listing.stale = true;
    if (grid.root && grid.root.isConnected) refreshStale().then(scheduleRender);
  }
  scheduleRender();
  if (popover) popover.render();
}

/** A search term on curation, which a rating or tag change can make true
 * or false. */
const CURATION_TERM = /(^|[\s(])-?(rating|favorite|tag|collection):/i;

/** Loads a stale listing again; a change made while it loads is caught by
 * one more load after it. */
async function refreshStale() {
  if (!listing.stale) return;
  if (listing.loading) {
    await listing.loading.catch(() => {});
    return refreshStale();
  }
  listing.stale = false;
  const at = listing.items[listing.current];
  const id = at ? at.id : null;
  try {
    await listing.reloadLoaded();
  } catch (e) {
    listing.error = e.message;
  }
  listing.current = id === null ? -1 : listing.items.findIndex((a) => a.id === id);
  const listed = new Set(listing.items.map((a) => a.id));
  for (const sid of selected()) if (!listed.has(sid)) selection.ids.delete(sid);
  showSelection();
}

async function toggleFavorite(ids) {
  const byId = new Map(listing.items.map((a) => [a.id, a]));
  const all = ids.every((id) => curationOf(id, byId).favorite);
  await curate(ids, { favorite: !all }, all ? 'Unmarked' : 'Marked as favorite:');
}

function closePopover() {
  if (!popover) return;
  popover.node.remove();
  popover = null;
}

function openPopover(node, render = () => {}) {
  closePopover();
  popover = { node, render };
  document.body.append(node);
  render();
}

/** A text box that closes its popover on Escape and never lets the
 * page's keys fire while typing. */
function popoverInput(attrs) {
  const input = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 100, ...attrs });
  input.addEventListener('keydown', (event) => {
    event.stopPropagation();
    if (event.key === 'Escape') { event.preventDefault(); closePopover(); }
  });
  return input;
}

/** The tag editor of `ids`: their tags (with how many of them carry each),
 * each removable, and a box to add one to all. */
function openTagger(ids) {
  if (ids.length === 0) return;
  const input = popoverInput({ id: 'tag-input', placeholder: 'Add a tag and press Enter' });
  const chips = el('div', { class: 'chips', id: 'tag-chips' });
  const add = async () => {
    const tag = input.value.trim();
    if (!tag) return;
    input.value = '';
    await curate(ids, { add_tags: [tag] });
    input.focus();
  };
  const box = el('div', { class: 'popover', id: 'tagger', role: 'dialog', 'aria-label': 'Tags' },
    el('h2', {}, ids.length === 1 ? 'Tags' : `Tags of ${plural(ids.length, 'asset')}`),
    chips,
    el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); add(); } }, input, el('button', { type: 'submit' }, 'Add')),
    el('p', { class: 'hint' }, 'Enter adds to all · × removes from all · Esc closes'));
  openPopover(box, () => {
    const byId = new Map(listing.items.map((a) => [a.id, a]));
    const counts = new Map();
    for (const id of ids) {
      for (const tag of curationOf(id, byId).tags || []) {
        const key = tag.toLowerCase();
        const entry = counts.get(key) || [tag, 0];
        entry[1] += 1;
        counts.set(key, entry);
      }
    }
    chips.replaceChildren(...[...counts.values()].map(([tag, n]) => el('span', { class: 'chip', 'data-tag': tag }, tag,
      ids.length > 1 ? el('small', {}, ` ${n}/${ids.length}`) : null,
      el('button', { class: 'x', title: `Remove “${tag}”`, 'aria-label': `Remove ${tag}`, onclick: () => curate(ids, { remove_tags: [tag] }) }, '×'))));
    if (counts.size === 0) chips.append(el('span', { class: 'hint' }, 'No tags yet.'));
  });
  input.focus();
}

/** Adds `ids` to a collection named in a box (a new name creates it). */
function openCollector(ids) {
  if (ids.length === 0) return;
  const names = el('datalist', { id: 'collection-names' });
  const input = popoverInput({ id: 'collection-input', list: 'collection-names', placeholder: 'A collection, new or existing' });
  const add = async () => {
    const name = input.value.trim();
    if (!name) return;
    try {
      const r = await post('/api/collection/add', { name, ids, create: true });
      closePopover();
      const c = r.collection || { name, members: '?' };
      toast(`Added ${plural(r.added, 'asset')} to “${c.name}” (${c.members} in all)`);
    } catch (e) {
      toast(e.message, true);
    }
  };
  openPopover(el('div', { class: 'popover', id: 'collector', role: 'dialog', 'aria-label': 'Add to a collection' },
    el('h2', {}, `Add ${plural(ids.length, 'asset')} to a collection`),
    el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); add(); } }, input, names, el('button', { type: 'submit' }, 'Add')),
    el('p', { class: 'hint' }, 'A new name makes a new collection · Esc closes')));
  input.focus();
  api('/api/collections').then((d) => names.replaceChildren(...d.collections.map((c) => el('option', { value: c.name })))).catch(() => {});
}

/** Changes the members of the collection `name` shown in the grid with
 * one request, says what it did, and shows the collection again. */
async function changeMembers(name, path, body, said) {
  try {
    toast(said(await post(path, { name, ...body })));
  } catch (e) {
    toast(e.message, true);
    return;
  }
  listing.reset('', 'date', name);
  await mountGrid();
}

function moveInCollection(name, ids, to) {
  return changeMembers(name, '/api/collection/move', { ids, to },
    (r) => `Moved ${plural(r.moved, 'asset')} to the ${to} of “${name}”`);
}

/** A box to rename the collection `name`. */
function openRenamer(name) {
  const input = popoverInput({ id: 'rename-input', value: name });
  const rename = async () => {
    const to = input.value.trim();
    if (!to || to === name) { closePopover(); return; }
    try {
      const r = await post('/api/collection/rename', { name, to });
      closePopover();
      toast(`Renamed “${name}” to “${r.collection.name}”`);
      go(collectionUrl(r.collection.name), true);
    } catch (e) {
      toast(e.message, true);
    }
  };
  openPopover(el('div', { class: 'popover', id: 'renamer', role: 'dialog', 'aria-label': 'Rename the collection' },
    el('h2', {}, `Rename “${name}”`),
    el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); rename(); } }, input, el('button', { type: 'submit' }, 'Rename')),
    el('p', { class: 'hint' }, 'Enter renames · Esc closes')));
  input.focus();
  input.select();
}

/** Asks before deleting the collection `name` (its assets stay). */
function openDeleter(name, members) {
  const remove = async () => {
    try {
      await post('/api/collection/delete', { name });
      closePopover();
      toast(`Deleted the collection “${name}”`);
      go('/collections', true);
    } catch (e) {
      toast(e.message, true);
    }
  };
  const cancel = el('button', { onclick: () => closePopover() }, 'Keep it');
  openPopover(el('div', { class: 'popover', id: 'deleter', role: 'dialog', 'aria-label': 'Delete the collection' },
    el('h2', {}, `Delete “${name}”?`),
    el('p', {}, members === 0 ? 'It is empty.'
      : members === 1 ? 'Only the collection goes: the asset in it stays in the library, with its file, rating and tags.'
        : `Only the collection goes: the ${members} assets in it stay in the library, with their files, ratings and tags.`),
    el('div', { class: 'row' }, el('button', { id: 'delete-confirm', class: 'danger', onclick: remove }, 'Delete the collection'), cancel)));
  cancel.focus();
}

function removeFromCollection(name, ids) {
  return changeMembers(name, '/api/collection/remove', { ids },
    (r) => `Removed ${plural(r.removed, 'asset')} from “${name}”`);
}

/** 0–5, F and T on the asset shown or the grid's selection (or its
 * current tile); true when the key was one of them. */
function curationKey(event, ids) {
  if (ids.length === 0) return false;
  const key = event.key.toLowerCase();
  if (/^[0-5]$/.test(key)) {
    const r = Number(key);
    curate(ids, { rating: r }, ids.length > 1 ? (r ? `Rated ★${r}:` : 'Cleared the rating of') : null);
  } else if (key === 'f') {
    toggleFavorite(ids);
  } else if (key === 't') {
    openTagger(ids);
  } else {
    return false;
  }
  event.preventDefault();
  return true;
}

/** The detail view's box of the user's judgement: stars, favorite, tags
 * and collections, redrawn whenever they change. */
function drawCuration() {
  const box = $('curation');
  if (!box || !shown.asset) return;
  const id = shown.asset.id;
  const c = shown.asset.curation || {};
  const rating = c.rating || 0;
  const stars = el('span', { class: 'stars', id: 'stars', 'data-rating': rating, title: `Rating ${rating} of 5 (keys 0–5)` },
    [1, 2, 3, 4, 5].map((r) => el('button', { class: r <= rating ? 'star on' : 'star', 'aria-label': `Rate ${r}`,
      onclick: () => curate([id], { rating: r === rating ? 0 : r }) }, '★')));
  const favorite = el('button', { id: 'favorite', class: c.favorite ? 'fav on' : 'fav', 'aria-pressed': c.favorite ? 'true' : 'false',
    title: 'Favorite (key F)', onclick: () => toggleFavorite([id]) }, c.favorite ? '♥ Favorite' : '♡ Favorite');
  const tags = el('div', { class: 'chips', id: 'tags' }, (c.tags || []).map((t) => el('span', { class: 'chip', 'data-tag': t }, t,
    el('button', { class: 'x', title: `Remove “${t}”`, 'aria-label': `Remove ${t}`, onclick: () => curate([id], { remove_tags: [t] }) }, '×'))),
  el('button', { id: 'edit-tags', title: 'Tags (key T)', onclick: () => openTagger([id]) }, '+ Tag'));
  const collections = (c.collections || []).length
    ? el('p', { class: 'collections' }, 'In ', (c.collections || []).flatMap((n, i) => [i ? ', ' : null,
      el('a', { href: collectionUrl(n), 'data-nav': true }, n)]))
    : null;
  fill(box, el('h2', {}, 'Your judgement'), el('div', { class: 'row' }, stars, favorite), tags, collections,
    el('p', { class: 'hint' }, 'keys: 0–5 rate · F favorite · T tags'));
}

// ---------------------------------------------------------------- collections

async function showCollections() {
  document.title = 'Collections · kiln';
  const data = await api('/api/collections');
  fill(view, el('h2', {}, plural(data.total, 'collection')),
    data.total === 0 ? el('p', { class: 'empty' }, 'No collections yet: select assets in the gallery (ctrl/cmd-click, shift-click) and add them from the bar below it.') : null,
    el('div', { class: 'sessions', id: 'collections' }, data.collections.map((c) =>
      el('a', { class: 'session collection', href: collectionUrl(c.name), 'data-nav': true, 'data-name': c.name },
        c.cover_url ? el('img', { src: c.cover_url, alt: '', loading: 'lazy' }) : el('div', { class: 'placeholder' }),
        el('div', {}, el('b', {}, c.name), plural(c.members, 'asset'))))));
}

// ---------------------------------------------------------------- best of a session

function staticTile(asset, note) {
  const tile = el('a', { class: 'tile', href: asset.url, 'data-nav': true, title: asset.path, 'data-id': asset.id },
    asset.thumbnail_url ? el('img', { src: asset.thumbnail_url, alt: asset.name, loading: 'lazy', draggable: 'false' })
      : el('div', { class: 'placeholder' }, 'no preview'),
    el('span', { class: 'badge' }), el('span', { class: 'score' }, note));
  updateBadge(tile, asset);
  return tile;
}

/** What `kiln cull --per-session N` proposes for one session, and a button
 * that tags the proposed rejects `rejected` (nothing is deleted). */
async function showBest(session, params) {
  document.title = 'Best of this session · kiln';
  const keep = Math.max(1, Math.min(1000, Number(params.get('keep')) || 3));
  const plan = await api(`/api/cull?${new URLSearchParams({ session, keep: String(keep) })}`);
  const score = (a) => (a.score === null || a.score === undefined ? 'no score' : `score ${a.score.toFixed(1)}`);
  const keepInput = el('input', { type: 'number', id: 'keep', min: 1, max: 1000, value: keep });
  keepInput.addEventListener('change', () => {
    const n = Math.max(1, Math.min(1000, Number(keepInput.value) || 1));
    go(`/sessions/${encodeURIComponent(session)}?keep=${n}`, true);
  });
  const alreadyRejected = plan.reject.filter((a) => ((a.curation || {}).tags || []).some((t) => t.toLowerCase() === 'rejected')).length;
  const apply = el('button', { id: 'apply-cull', class: 'danger', disabled: plan.reject.length === 0 || alreadyRejected === plan.reject.length,
    onclick: async () => {
      apply.disabled = true;
      try {
        const r = await post('/api/cull/apply', { session, keep, reject: plan.reject.map((a) => a.id) });
        toast(`Tagged ${plural(r.rejected, 'asset')} “rejected” (${r.changed} changed); nothing was deleted`);
      } catch (e) {
        toast(e.message, true);
      }
      route();
    } }, `Tag the ${plural(plan.reject.length, 'other')} “rejected”`);
  view.replaceChildren(el('div', { class: 'cull', id: 'cull', 'data-session': session },
    el('div', { class: 'summary' },
      el('b', {}, `Best of this session: ${(plan.family || '').split('|').filter(Boolean).join(' · ') || 'generator unknown'}`),
      el('span', {}, plural(plan.assets, 'asset')),
      el('label', {}, 'keep the best ', keepInput),
      apply,
      el('a', { href: `/?q=${encodeURIComponent(`session:${session}`)}`, 'data-nav': true }, 'all of it in the grid'),
      el('a', { href: '/sessions', 'data-nav': true }, 'all sessions')),
    el('h2', {}, `Keep: ${plural(plan.keep.length, 'asset')}, best quality score first`),
    el('div', { class: 'tiles', id: 'cull-keep' }, plan.keep.map((a) => staticTile(a, score(a)))),
    el('h2', {}, plan.reject.length ? `Proposed as rejected: ${plural(plan.reject.length, 'asset')}` : 'Nothing to reject'),
    el('div', { class: 'tiles rejects', id: 'cull-reject' }, plan.reject.map((a) => staticTile(a, score(a)))),
    plan.unjudged.length ? el('h2', {}, `Not judged (no quality score yet): ${plural(plan.unjudged.length, 'asset')}`) : null,
    plan.unjudged.length ? el('div', { class: 'tiles', id: 'cull-unjudged' }, plan.unjudged.map((a) => staticTile(a, 'no score'))) : null));
}

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
    el('section', { class: 'box', id: 'curation' }),
    prompts,
    el('section', { class: 'box' }, el('h2', {}, 'Parameters'), dl),
    qualityBox,
    session ? el('section', { class: 'box' }, el('h2', {}, 'Session'), session) : null,
    el('div', { id: 'similar' }),
    strip('Near-duplicates', asset.near_duplicate_assets),
    problems,
    el('section', { class: 'box' }, el('h2', {}, 'Stages'), states, more));
  view.replaceChildren(el('div', { class: 'detail', 'data-asset': id }, stage, side));
  shown.asset = { id, curation: asset.curation || {} };
  drawCuration();
  window.scrollTo({ top: 0 });

  api(asset.urls.similar).then((similar) => {
    const box = strip(similar.by === 'semantic' ? 'Similar in meaning' : 'Similar', similar.hits);
    const slot = $('similar');
    if (box && slot) slot.replaceWith(box);
  }).catch(() => {});
}

function backUrl() {
  if (listing.collection !== null) return collectionUrl(listing.collection);
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
  fill(view, el('h2', {}, plural(data.total, 'session')),
    data.total === 0 ? el('p', { class: 'empty' }, 'Sessions appear once assets are enriched.') : null,
    el('div', { class: 'sessions', id: 'sessions' }, data.sessions.map((s) => el('div', { class: 'card' },
      el('a', { class: 'session', href: `/?q=${encodeURIComponent(`session:${s.id}`)}`, 'data-nav': true },
        s.cover_url ? el('img', { src: s.cover_url, alt: '', loading: 'lazy' }) : el('div', { class: 'placeholder' }),
        el('div', {}, el('b', {}, s.family || 'unknown'), `${plural(s.assets, 'asset')} · ${time(s.start)}`)),
      s.assets > 1 ? el('a', { class: 'best', href: `/sessions/${encodeURIComponent(s.id)}`, 'data-nav': true, 'data-session': s.id }, 'Best of this session →') : null))));
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
  if (popover) {
    // A popover (tag editor, collection picker, renamer, deleter) is open:
    // only Escape, to close it.
    if (event.key === 'Escape') { event.preventDefault(); closePopover(); }
    return;
  }
  const detail = view.querySelector('.detail');
  if (detail) {
    if (event.key === 'ArrowLeft' && $('prev')) { event.preventDefault(); go($('prev').getAttribute('href')); }
    else if (event.key === 'ArrowRight' && $('next')) { event.preventDefault(); go($('next').getAttribute('href')); }
    else if (event.key === 'Escape') { event.preventDefault(); go(backUrl()); }
    else if (shown.asset && event.key.length === 1) curationKey(event, [shown.asset.id]);
    return;
  }
  if (grid.root && grid.root.isConnected) {
    if (event.key === 'Escape' && selection.ids.size) {
      event.preventDefault();
      selection.clear();
      scheduleRender();
      return;
    }
    if (event.key.length === 1 && event.key !== '/') {
      const current = listing.items[listing.current];
      const ids = selection.ids.size ? selected() : current ? [current.id] : [];
      if (curationKey(event, ids)) return;
    }
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
  for (const [id, path] of [['nav-sessions', '/sessions'], ['nav-collections', '/collections'], ['nav-status', '/status'], ['nav-failed', '/failed']]) {
    $(id).classList.toggle('here', here === path || here.startsWith(`${path}/`));
  }
  closePopover();
  shown.asset = null;
  const params = new URLSearchParams(location.search);
  try {
    const asset = here.match(/^\/asset\/(\d+)$/);
    const best = here.match(/^\/sessions\/([^/]+)$/);
    if (asset) await showAsset(Number(asset[1]));
    else if (here === '/status') await showStatus();
    else if (here === '/failed') await showFailed();
    else if (here === '/sessions') await showSessions();
    else if (best) await showBest(decodeURIComponent(best[1]), params);
    else if (here === '/collections' && params.has('name')) await showCollection(params.get('name'));
    else if (here === '/collections') await showCollections();
    else await showGallery(params);
  } catch (e) {
    view.replaceChildren(el('p', { class: 'empty' }, `Cannot show this page: ${e.message}`));
  }
  renderSelection();
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
