// Kavenegar faked at the HTTP level, in its real wire format: form POSTs to
// /v1/{api_key}/{scope}/{method}.json answered with the {"return": {...}, "entries": ...}
// envelope. It remembers the calls so a test can check which key the hub used.

import http from "node:http";

export function startFakeKavenegar(port) {
  const calls = [];
  let nextId = 8_792_000;
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const m = /^\/v1\/([^/]+)\/(.+)\.json$/.exec(new URL(req.url, "http://x").pathname);
      const form = Object.fromEntries(new URLSearchParams(raw));
      const answer = (status, body) => {
        res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(body));
      };
      if (!m) return answer(404, { return: { status: 404, message: "not found" }, entries: null });
      const [, apiKey, method] = m;
      calls.push({ apiKey, method, form });
      if (method === "account/info") {
        return answer(200, { return: { status: 200, message: "تایید شد" }, entries: { remaincredit: 250000, expiredate: 1893456000, type: "Master" } });
      }
      if (method === "sms/send") {
        const entries = String(form.receptor || "")
          .split(",")
          .filter(Boolean)
          .map((receptor) => ({
            messageid: nextId++,
            message: form.message,
            status: 1,
            statustext: "در صف ارسال",
            sender: form.sender || "10004346",
            receptor,
            date: Math.floor(Date.now() / 1000),
            cost: 120,
          }));
        return answer(200, { return: { status: 200, message: "تایید شد" }, entries });
      }
      if (method === "sms/status") {
        // Every message asked about has reached its receptor (status 10).
        const entries = String(form.messageid || "")
          .split(",")
          .filter(Boolean)
          .map((id) => ({ messageid: Number(id), status: 10, statustext: "رسیده به گیرنده" }));
        return answer(200, { return: { status: 200, message: "تایید شد" }, entries });
      }
      return answer(200, { return: { status: 200, message: "تایید شد" }, entries: [] });
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve({ calls, close: () => new Promise((r) => server.close(r)) }));
  });
}
