// Express 4 is installed under the npm alias `express4`; its API is typed close enough by Express 5's.
declare module 'express4' {
  import express from 'express';
  export default express;
}
