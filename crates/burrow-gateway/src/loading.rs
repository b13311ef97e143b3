//! The page a viewer sees while an app wakes up: it polls the app's status and reloads when it runs.

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The loading page for an app.
pub fn page(app_name: &str) -> String {
    let name = escape(app_name);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Starting {name}…</title>
<style>
  :root {{ color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --bg: #f6f8fa; --accent: #b7793e; }}
  @media (prefers-color-scheme: dark) {{ :root {{ --fg: #e6edf3; --muted: #8d96a0; --bg: #0d1117; }} }}
  body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg);
         color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }}
  main {{ text-align: center; max-width: 32rem; padding: 2rem; }}
  .hog {{ font-size: 4rem; display: inline-block; animation: snuffle 1.6s ease-in-out infinite; }}
  @keyframes snuffle {{ 0%, 100% {{ transform: translateY(0) rotate(0); }} 50% {{ transform: translateY(-6px) rotate(-6deg); }} }}
  h1 {{ font-size: 1.4rem; margin: 1rem 0 .25rem; }}
  p {{ color: var(--muted); margin: .25rem 0; }}
  .bar {{ height: 4px; border-radius: 2px; background: color-mix(in srgb, var(--accent) 25%, transparent); overflow: hidden; margin: 1.5rem auto 0; width: 14rem; }}
  .bar span {{ display: block; height: 100%; width: 40%; background: var(--accent); animation: slide 1.2s ease-in-out infinite; }}
  @keyframes slide {{ from {{ transform: translateX(-100%); }} to {{ transform: translateX(250%); }} }}
  pre {{ text-align: left; white-space: pre-wrap; background: color-mix(in srgb, var(--fg) 8%, transparent); padding: 1rem; border-radius: 6px; font-size: .8rem; }}
  @media (prefers-reduced-motion: reduce) {{ .hog, .bar span {{ animation: none; }} }}
</style>
</head>
<body>
<main>
  <div class="hog" aria-hidden="true">🦔</div>
  <h1 id="title">Waking up the hedgehogs…</h1>
  <p id="hint">{name} is starting. This usually takes a few seconds.</p>
  <div class="bar" id="bar" role="progressbar" aria-label="Starting"><span></span></div>
  <pre id="error" hidden></pre>
</main>
<script>
  const started = Date.now();
  async function poll() {{
    try {{
      const r = await fetch("/_burrow/status", {{ credentials: "same-origin", cache: "no-store" }});
      if (r.ok) {{
        const s = await r.json();
        if (s.status === "running") {{ location.reload(); return; }}
        if (s.status === "error") {{
          document.getElementById("title").textContent = "The app could not start";
          document.getElementById("hint").textContent = "An editor can fix it and start it again from Burrow.";
          document.getElementById("bar").hidden = true;
          const e = document.getElementById("error");
          e.textContent = s.last_error || "";
          e.hidden = !s.last_error;
          return;
        }}
        const secs = Math.round((Date.now() - started) / 1000);
        if (secs > 8) document.getElementById("hint").textContent =
          "{name} is still starting (" + secs + " s): installing and importing packages can take a moment.";
      }}
    }} catch (_) {{}}
    // A warm start is ready within a fraction of a second: look often at first.
    setTimeout(poll, Date.now() - started < 3000 ? 150 : 1000);
  }}
  poll();
</script>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_escaped() {
        let page = super::page("<script>x</script>");
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("Waking up the hedgehogs"));
    }
}
