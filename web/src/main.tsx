import { render } from "preact";
import { App } from "./app.js";
import "./style.css";

render(<App />, document.getElementById("app")!);

// Offline: a service worker keeps a copy of the page and its assets (public/sw.js). Service workers need
// http(s) (127.0.0.1 counts as secure); opened from a file, the page simply runs without one.
if ("serviceWorker" in navigator && location.protocol.startsWith("http") && import.meta.env.PROD)
  navigator.serviceWorker.register("./sw.js").catch(() => undefined);
