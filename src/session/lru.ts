// Until cookie-store.ts and forward/routes/check-session.ts import src/cache/lru.ts themselves (issue 19).
export { createLru, type Lru } from '../cache/lru.js';
