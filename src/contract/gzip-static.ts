/**
 * Whether the server sends `plugin.wasm.gz` to clients that accept gzip (Nginx's gzip_static), and
 * how the image and the chart switch it. image/nginx.conf includes GZIP_STATIC_SNIPPET, relative to
 * the folder of the config Nginx runs: the image ships the same nginx.conf twice, once beside a
 * snippet that turns gzip_static on (NGINX_CONF, the default) and once beside one that turns it off
 * (NGINX_CONF_GZIP_STATIC_OFF), and the chart's `gzip.enabled: false` runs `nginx -c` on the second.
 * Nothing is written at run time, so the read-only, unprivileged container needs no mount for it.
 * docs/gzip.md says when each side wins.
 */
export const NGINX_CONF = '/etc/nginx/nginx.conf';
export const NGINX_CONF_GZIP_STATIC_OFF = '/etc/nginx/gzip-static-off/nginx.conf';
/** The `include` of image/nginx.conf, relative to the config's folder. */
export const GZIP_STATIC_SNIPPET = 'plugin-server/gzip-static.conf';

/**
 * The snippet's text: image/plugin-server/gzip-static.conf (beside image/nginx.conf, as in the image)
 * and image/gzip-static-off/plugin-server/gzip-static.conf hold exactly these bytes.
 */
export function gzipStaticSnippet(enabled: boolean): string {
  return `gzip_static ${enabled ? 'on' : 'off'};\n`;
}
