/**
 * The API docs page: one self-contained HTML file (no CDN, no external assets) that fetches
 * the OpenAPI document and renders operations, parameters, bodies, responses (schemas and
 * examples), a curl line per operation and how an operator gets a client its key.
 */

/** Content-Security-Policy for the docs page: its own inline script and style, same-origin fetch. */
export const DOCS_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:";

/** The docs page for the document at `specUrl`. */
export function docsHtml(specUrl: string, title = "Switchyard API"): string {
  const safeTitle = title.replace(/[<>&"]/g, "");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${safeTitle}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#b8c0c8}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
h2{margin:28px 0 8px;font-size:17px;border-bottom:1px solid #d5d9de;padding-bottom:4px}
details.op{background:#fff;border:1px solid #d5d9de;border-radius:6px;margin:6px 0}
details.op>summary{cursor:pointer;padding:8px 12px;list-style:none;display:flex;gap:10px;align-items:center}
.m{font:600 12px ui-monospace,monospace;padding:2px 8px;border-radius:4px;color:#fff;min-width:52px;text-align:center}
.GET{background:#2f7fd1}.POST{background:#2e9d5b}.PUT{background:#b7791f}.PATCH{background:#8a5cd1}.DELETE{background:#c53030}
.path{font:13px ui-monospace,monospace}.sum{color:#5b6670}.acc{margin-left:auto;font-size:12px;color:#5b6670}
.body{padding:4px 16px 12px;border-top:1px solid #eef0f2}
table{border-collapse:collapse;width:100%;margin:6px 0}td,th{text-align:left;border-bottom:1px solid #eef0f2;padding:4px 6px;vertical-align:top}
pre{background:#f1f3f5;padding:8px;border-radius:4px;overflow:auto;font-size:12px;max-height:360px}
code{font-family:ui-monospace,monospace}.err{color:#c53030}
</style></head>
<body><header><h1 id="t">${safeTitle}</h1><p id="d">Loading <code>${specUrl.replace(/[<>&"]/g, "")}</code>…</p></header>
<main><section id="key"><h2>Getting a key</h2>
<ol>
<li>An operator creates a client, with the scopes it needs (<code>admin</code>, or <code>&lt;domain&gt;:read</code> / <code>&lt;domain&gt;:write</code>, e.g. <code>orders:write</code>), from the clients CLI on a machine that reaches NATS and Postgres with the node's settings (same <code>NAMESPACE</code>):
<pre>npm run -s clients -- create --name acme --scopes orders:read,orders:write</pre>
or from the operator REPL (<code>npm run repl</code>): <pre>clients-create --name acme --scopes orders:read,orders:write</pre>
or, holding an admin key, with <code>POST /api/v1/admin/clients</code>. Each prints <code>{"id","name","scopes","apiKey","webhookSecret"}</code> once; only hashes are stored, so keep the key.</li>
<li>Call the API with the key as a bearer token: <pre>export BASE=http://127.0.0.1:3000 TOKEN=sy_live_...
curl -sS "$BASE/api/v1/me" -H "Authorization: Bearer $TOKEN"</pre></li>
<li>Or exchange it for a short-lived access token (OAuth2 client credentials) and use that instead: <pre>curl -sS -X POST "$BASE/oauth/token" -d grant_type=client_credentials -d client_id=cl_... -d client_secret="$TOKEN"</pre></li>
</ol>
<p>Lists page with <code>limit</code> and <code>cursor</code>: pass a page's <code>nextCursor</code> as <code>cursor</code>; it is null at the end (the events feed always answers one: poll it again later).</p></section>
<div id="main"></div></main>
<script>
(function(){
  var SPEC=${JSON.stringify(specUrl)};
  function esc(s){return String(s).replace(/[&<>"']/g,function(c){return{"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c];});}
  function resolve(doc,o,seen){
    seen=seen||0; if(!o||typeof o!=="object"||seen>20)return o;
    if(typeof o.$ref==="string"&&o.$ref.indexOf("#/")===0){
      var t=doc;o.$ref.slice(2).split("/").forEach(function(k){t=t&&t[k.replace(/~1/g,"/").replace(/~0/g,"~")];});
      return resolve(doc,t,seen+1);
    }
    return o;
  }
  function schemaBlock(doc,s){return "<pre>"+esc(JSON.stringify(resolve(doc,s),null,2))+"</pre>";}
  function sample(doc,s,depth){
    s=resolve(doc,s)||{};depth=depth||0;if(depth>6)return null;
    if(s.example!==undefined)return s.example;if(s.const!==undefined)return s.const;if(s.default!==undefined)return s.default;
    if(Array.isArray(s.enum)&&s.enum.length)return s.enum[0];
    var t=Array.isArray(s.type)?s.type[0]:s.type;
    if(!t&&s.anyOf)return sample(doc,s.anyOf[0],depth+1);
    if(t==="object"||s.properties){var o={},req=s.required||Object.keys(s.properties||{});
      req.forEach(function(k){o[k]=sample(doc,(s.properties||{})[k]||{},depth+1);});return o;}
    if(t==="array")return [sample(doc,s.items||{},depth+1)];
    if(t==="integer"||t==="number")return s.minimum||0;
    if(t==="boolean")return true;
    if(t==="string")return s.format==="date-time"?new Date(0).toISOString():"string";
    return {};
  }
  function curl(doc,e){
    var op=e.op,q="'";var line="curl -sS";if(e.method!=="GET")line+=" -X "+e.method;
    line+=' "$BASE'+e.path.replace(/[{]([^}]+)[}]/g,"<$1>")+'"';
    if(op["x-access"]!=="public")line+=' -H "Authorization: Bearer $TOKEN"';
    (op.parameters||[]).map(function(x){return resolve(doc,x);}).forEach(function(x){
      if(x.in==="header")line+=" -H "+q+x.name+": <"+x.name+">"+q;});
    var rb=op.requestBody&&resolve(doc,op.requestBody);
    if(rb&&rb.content){var ct=Object.keys(rb.content)[0],c=rb.content[ct];
      if(ct==="application/json"){var sc=resolve(doc,c.schema)||{};
        var body=c.example!==undefined?c.example:(sc.properties?sample(doc,sc):undefined);
        line+=" -H 'Content-Type: application/json' "+(body===undefined?"-d @body.json":"-d "+q+JSON.stringify(body).replace(/'/g,"'\\''")+q);}
      else if(ct==="application/xml")line+=" -H 'Content-Type: application/xml' --data-binary @body.xml";
      else if(ct==="application/x-www-form-urlencoded")line+=" -d grant_type=client_credentials -d client_id=<id> -d client_secret=<key>";}
    return line;
  }
  function render(doc){
    document.getElementById("t").textContent=(doc.info&&doc.info.title)||"API";
    document.title=(doc.info&&doc.info.title)||"API";
    document.getElementById("d").innerHTML="OpenAPI "+esc(doc.openapi)+" · version "+esc(doc.info&&doc.info.version)+" · <a style='color:#9cc7ff' href='"+esc(SPEC)+"'>"+esc(SPEC)+"</a>";
    var groups={};
    Object.keys(doc.paths||{}).sort().forEach(function(p){
      Object.keys(doc.paths[p]).forEach(function(m){
        var op=doc.paths[p][m];var tag=(op.tags&&op.tags[0])||"other";
        (groups[tag]=groups[tag]||[]).push({path:p,method:m.toUpperCase(),op:op});
      });
    });
    var html="";
    Object.keys(groups).sort().forEach(function(tag){
      html+="<h2>"+esc(tag)+"</h2>";
      groups[tag].forEach(function(e){
        var op=e.op;
        html+="<details class='op'><summary><span class='m "+esc(e.method)+"'>"+esc(e.method)+"</span><span class='path'>"+esc(e.path)+"</span><span class='sum'>"+esc(op.summary||"")+"</span><span class='acc'>"+esc(op["x-access"]||"")+"</span></summary><div class='body'>";
        if(op.description)html+="<p>"+esc(op.description)+"</p>";
        html+="<p>Action <code>"+esc(op["x-moleculer-action"]||"")+"</code> · operationId <code>"+esc(op.operationId||"")+"</code></p>";
        var ps=(op.parameters||[]).map(function(x){return resolve(doc,x);});
        if(ps.length){html+="<table><tr><th>Parameter</th><th>In</th><th>Required</th><th>Schema</th></tr>";
          ps.forEach(function(x){html+="<tr><td><code>"+esc(x.name)+"</code></td><td>"+esc(x.in)+"</td><td>"+(x.required?"yes":"no")+"</td><td><code>"+esc(JSON.stringify(x.schema))+"</code></td></tr>";});
          html+="</table>";}
        if(op.requestBody){var rb=resolve(doc,op.requestBody);html+="<h4>Request body"+(rb.required?" (required)":"")+"</h4>";
          Object.keys(rb.content||{}).forEach(function(ct){html+="<p><code>"+esc(ct)+"</code></p>"+schemaBlock(doc,rb.content[ct].schema);});}
        html+="<h4>Try it</h4><pre class='curl'>"+esc(curl(doc,e))+"</pre>";
        html+="<h4>Responses</h4><table>";
        Object.keys(op.responses||{}).forEach(function(st){var r=resolve(doc,op.responses[st]);
          var cts=Object.keys(r.content||{});
          html+="<tr><td><b>"+esc(st)+"</b></td><td>"+esc(r.description||"")+(cts.length?" <code>"+esc(cts.join(", "))+"</code>":"");
          var isErr=cts.length&&r.content[cts[0]].schema&&r.content[cts[0]].schema.$ref==="#/components/schemas/Error";
          if(isErr)html+=" (the error shape, below)";
          else if(cts.length){var c=r.content[cts[0]],ex=c.example!==undefined?c.example:sample(doc,c.schema);
            html+="<details><summary>schema and example</summary>"+schemaBlock(doc,c.schema)+"<p>Example</p><pre>"+esc(JSON.stringify(ex,null,2))+"</pre></details>";}
          html+="</td></tr>";});
        html+="</table></div></details>";
      });
    });
    var schemes=(doc.components&&doc.components.securitySchemes)||{};
    html+="<h2>Authentication</h2><table>";
    Object.keys(schemes).forEach(function(k){html+="<tr><td><code>"+esc(k)+"</code></td><td>"+esc(schemes[k].description||schemes[k].type)+"</td></tr>";});
    html+="</table><h2>Errors</h2><p>Every error has this shape; <code>code</code> is stable.</p>"+schemaBlock(doc,{$ref:"#/components/schemas/Error"});
    document.getElementById("main").innerHTML=html;
  }
  fetch(SPEC,{headers:{accept:"application/json"}}).then(function(r){if(!r.ok)throw new Error("HTTP "+r.status);return r.json();})
    .then(render).catch(function(e){document.getElementById("main").innerHTML="<p class='err'>Could not load the document: "+esc(e.message)+"</p>";});
})();
</script></body></html>
`;
}
