/**
 * Offline support for the nvmx playground: a network-first service worker. With the server reachable the
 * page is always the newest build; without it, the copy cached at install (the page and its bundled assets)
 * is served, the chunks loaded on demand included. It handles only same-origin GET requests: the page
 * makes no other kind.
 */
const CACHE = "nvmx-playground";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      await caches.delete(CACHE);
      const cache = await caches.open(CACHE);
      const page = await fetch("./", { cache: "no-cache" });
      const html = await page.clone().text();
      await cache.put("./", page);
      // The page's assets, then every chunk they load on demand (the nested view, the generator, the web
      // worker, the bundled corpora): each bundle names the chunks it imports as "./NAME-HASH.js".
      const seen = new Set([...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => `./${m[1]}`));
      const queue = [...seen];
      while (queue.length > 0) {
        const url = queue.shift();
        const res = await fetch(url, { cache: "no-cache" });
        if (!res.ok) throw new Error(`${url}: ${res.status}`);
        await cache.put(url, res.clone());
        if (!url.endsWith(".js")) continue;
        for (const m of (await res.text()).matchAll(/["'`]\.?\/?([\w.-]+-[\w-]{8}\.js)["'`]/g)) {
          const next = `./assets/${m[1]}`;
          if (!seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      try {
        const res = await fetch(req);
        if (res.ok) await (await caches.open(CACHE)).put(req, res.clone());
        return res;
      } catch {
        const hit = await caches.match(req, { ignoreSearch: true });
        if (hit) return hit;
        if (req.mode === "navigate") return (await caches.match("./")) ?? Response.error();
        return Response.error();
      }
    })(),
  );
});
