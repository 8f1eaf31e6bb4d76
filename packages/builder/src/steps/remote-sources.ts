// The http(s) sources of one ADD step. With --checksum the key is the
// checksum and a hit fetches nothing. Without it the key needs the content's
// digest: when the step's last record (its position's last key) says what the
// URL's last download was (digest, ETag, Last-Modified), a conditional request
// asks whether it changed, and an unchanged URL is keyed by the digest it had,
// with nothing downloaded; otherwise (and the first time) it is downloaded.
import { join } from 'node:path';
import type { CacheKey, RemoteSource } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import type { UrlRevalidation } from '../events.js';
import type { BuildSession, StageState } from '../session.js';
import { download, revalidate, type Checksum, type Downloaded } from './remote.js';
import { redact } from '../redact.js';

export interface RemoteItem {
  readonly url: string;
}

interface ItemState {
  /** The digest the key took. */
  digest?: string;
  downloaded?: Downloaded;
  /** What to keep in the record for this URL. */
  source?: RemoteSource;
}

export class RemoteSources {
  readonly items: readonly RemoteItem[];
  /** The conditional requests this step made, for its step event. */
  readonly revalidations: UrlRevalidation[] = [];
  readonly #session: BuildSession;
  readonly #state: StageState;
  readonly #checksum: Checksum | undefined;
  readonly #states = new Map<RemoteItem, ItemState>();
  #previous: Promise<readonly RemoteSource[]> | undefined;

  constructor(session: BuildSession, state: StageState, urls: readonly string[], checksum: Checksum | undefined) {
    this.#session = session;
    this.#state = state;
    this.#checksum = checksum;
    this.items = urls.map((url) => ({ url }));
    for (const item of this.items) this.#states.set(item, {});
  }

  /** What the step's position last recorded about its URLs (none with the cache off). */
  #known(): Promise<readonly RemoteSource[]> {
    this.#previous ??= (async () => {
      const scope = this.#state.cache;
      if (scope === undefined || scope.disabled !== undefined) return [];
      const last = await this.#session.store.records.lastKey(scope.locator);
      const record = last === undefined ? undefined : await this.#session.store.records.get(last, { touch: false });
      return record?.remote ?? [];
    })();
    return this.#previous;
  }

  #options() {
    const signal = this.#session.options.signal;
    return {
      path: join(this.#session.workDir, `download-${this.#session.nextId()}`),
      ...(this.#checksum === undefined ? {} : { checksum: this.#checksum }),
      ...(signal === undefined ? {} : { signal }),
    };
  }

  /** The digest the key takes for a URL: the checksum, the digest a revalidation confirmed, or the download's. */
  async digestOf(item: RemoteItem): Promise<string> {
    if (this.#checksum !== undefined) return this.#checksum.text;
    const st = this.#states.get(item) as ItemState;
    if (st.digest !== undefined) return st.digest;
    const known = (await this.#known()).find((r) => r.url === item.url && (r.etag !== undefined || r.lastModified !== undefined));
    if (known !== undefined) {
      const checked = await revalidate(item.url, known, this.#options());
      this.revalidations.push({ url: redact(item.url), result: checked.result, by: checked.by });
      if (checked.result === 'not-modified') {
        st.source = known;
        st.digest = known.digest;
        return known.digest;
      }
      st.downloaded = checked.downloaded;
    } else {
      st.downloaded = await download(item.url, this.#options());
    }
    const got = st.downloaded;
    st.source = { url: item.url, digest: got.digest, ...(got.etag === undefined ? {} : { etag: got.etag }), ...(got.lastModified === undefined ? {} : { lastModified: got.lastModified }) };
    st.digest = got.digest;
    return got.digest;
  }

  /**
   * The downloaded file, for a miss: fetched now when the key needed no body
   * (--checksum, or a URL that was not modified while the step missed for
   * another reason); its content must be what the key took.
   */
  async fileOf(item: RemoteItem): Promise<Downloaded> {
    const st = this.#states.get(item) as ItemState;
    if (st.downloaded !== undefined) return st.downloaded;
    const got = await download(item.url, this.#options());
    if (this.#checksum === undefined && st.digest !== undefined && got.digest !== st.digest) {
      throw buildError(BuildErrors.downloadFailed, [item.url, `it changed during the build (the server said ${st.digest} was current, then sent ${got.digest}); build again`]);
    }
    st.downloaded = got;
    return got;
  }

  /** What the step's record keeps about its URLs (nothing with --checksum: the key needs no request). */
  records(): RemoteSource[] {
    if (this.#checksum !== undefined) return [];
    return this.items.flatMap((item) => {
      const source = this.#states.get(item)?.source;
      return source === undefined ? [] : [source];
    });
  }

  /**
   * After a hit: a record that does not hold the validators the server sent
   * now (made before them, or the ETag changed with the same content) gets
   * them, with its time kept, so the next build asks with them.
   */
  async refresh(key: CacheKey): Promise<void> {
    const remote = this.records();
    if (remote.length === 0) return;
    const store = this.#session.store.records;
    const record = await store.get(key, { touch: false });
    if (record === undefined || JSON.stringify(record.remote ?? []) === JSON.stringify(remote)) return;
    const { key: _key, createdAt, ...input } = record;
    await store.put(key, { ...input, remote }, new Date(createdAt));
  }
}
