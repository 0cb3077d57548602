// esbuild bundles imported CSS into dist/webview/panel.css.
declare module '*.css';
