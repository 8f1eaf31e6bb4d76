import { buildError, BuildErrors } from '../../src/errors.js';

// A URL with a password (https://user:secret@host/...) is shown without it in
// every message that names a download.
describe('download errors do not print a URL password', () => {
  const url = 'https://me:s3cret@files.example/app.tar.gz';
  test.each([
    ['BUILD_DOWNLOAD_FAILED', buildError(BuildErrors.downloadFailed, [url, 'the server answered 404'])],
    ['BUILD_CHECKSUM_MISMATCH', buildError(BuildErrors.checksumMismatch, [url, 'sha256:aa', 'sha256:bb'])],
  ])('%s', (code, error) => {
    expect(error.code).toBe(code);
    expect(error.message).not.toContain('s3cret');
    expect(error.message).toContain('me:xxxxx@files.example');
  });
});
