import type { CommandSpec } from '../io.js';

/**
 * Every verb of the CLI. Each entry loads its module lazily: `strata --version`
 * and a no-op rebuild do not pay for the code of other commands.
 */
export const commands: readonly CommandSpec[] = [
  { name: 'build', summary: 'Build an image from a Dockerfile', load: async () => (await import('./build.js')).run },
  { name: 'bake', summary: 'Build the targets of docker-bake.hcl / .json / compose.yaml files', load: async () => (await import('./bake.js')).run },
  { name: 'parse', summary: 'Print the instructions of a Dockerfile as BuildKit reads them', load: async () => (await import('./parse.js')).run },
  { name: 'lint', summary: 'Check a Dockerfile with the build checks', load: async () => (await import('./lint.js')).run },
  { name: 'du', summary: 'Show the store\'s disk usage by kind', load: async () => (await import('./du.js')).run },
  { name: 'prune', summary: 'Remove unreferenced blobs, snapshots and build cache', load: async () => (await import('./prune.js')).run },
  { name: 'verify', summary: 'Re-hash every blob and check the store; --repair fixes it', load: async () => (await import('./verify.js')).run },
  { name: 'pull', summary: 'Download an image from a registry', load: async () => (await import('./pull.js')).run },
  { name: 'push', summary: 'Upload an image to a registry', load: async () => (await import('./push.js')).run },
  { name: 'login', summary: 'Log in to a registry', load: async () => (await import('./login.js')).run },
  { name: 'logout', summary: 'Log out from a registry', load: async () => (await import('./logout.js')).run },
  { name: 'images', summary: 'List images in the store', load: async () => (await import('./images.js')).run },
  { name: 'image', summary: 'Manage images (ls, inspect, tag, rm, save, load, import)', load: async () => (await import('./images.js')).runImage },
  { name: 'inspect', summary: 'Show details of images as JSON, like docker image inspect', load: async () => (await import('./inspect.js')).run },
  { name: 'tag', summary: 'Give an image another name', load: async () => (await import('./tag.js')).run },
  { name: 'rmi', summary: 'Remove image names', load: async () => (await import('./rmi.js')).run },
  { name: 'save', summary: 'Write images to a docker-archive or OCI archive', load: async () => (await import('./save.js')).run },
  { name: 'load', summary: 'Load images from an archive or OCI layout', load: async () => (await import('./load.js')).run },
  { name: 'run', summary: 'Run a command in a new container from an image', load: async () => (await import('./run.js')).run },
  { name: 'ps', summary: 'List containers', load: async () => (await import('./ps.js')).run },
  { name: 'start', summary: 'Run a stopped container again, attached, with its layer kept', load: async () => (await import('./start.js')).run },
  { name: 'rm', summary: 'Remove containers and their writable layers', load: async () => (await import('./rm.js')).run },
  { name: 'commit', summary: 'Make an image from a container\'s changes', load: async () => (await import('./commit.js')).run },
  { name: 'import', summary: 'Make an image from a root filesystem tar', load: async () => (await import('./import.js')).run },
];
