// The three Reflect metadata functions tsyringe needs before it will load
// (@peculiar/x509 resolves its algorithm providers through tsyringe, which
// throws "requires a reflect polyfill" at import when Reflect.getMetadata is
// missing). visp has no decorators of its own, so a small store suffices:
// tsyringe reads "design:paramtypes" (never emitted here: undefined) and
// keeps its injection tokens with defineMetadata/getOwnMetadata.
// Import this module before '@peculiar/x509' (src/trust/x509.ts does).
type Store = Map<unknown, unknown>;
const stores = new WeakMap<object, Store>();

interface ReflectMetadata {
  defineMetadata(key: unknown, value: unknown, target: object): void;
  getOwnMetadata(key: unknown, target: object): unknown;
  getMetadata(key: unknown, target: object): unknown;
}

const R = Reflect as typeof Reflect & Partial<ReflectMetadata>;
if (typeof R.getMetadata !== 'function') {
  R.defineMetadata = (key, value, target) => {
    let s = stores.get(target);
    if (!s) stores.set(target, (s = new Map()));
    s.set(key, value);
  };
  R.getOwnMetadata = (key, target) => stores.get(target)?.get(key);
  R.getMetadata = (key, target) => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const s = stores.get(t);
      if (s?.has(key)) return s.get(key);
    }
    return undefined;
  };
}

export {};
