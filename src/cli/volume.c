/* shelter volume: manage protected volumes (docs/cli.md, docs/formats/volume.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shelter/crypto.h"
#include "shelter/volume.h"

#define IO_SIZE (1u << 20)

struct vopts {
	const char *key_file;
	const char *tag_hex;
	char *args[3];
	int nargs;
};

static const char volume_help[] =
	"usage: shelter volume <verb> ... --key-file KEY\n"
	"\n"
	"  create DIR                 create an empty volume (creates KEY when absent)\n"
	"  import SRC DIR             encrypt the plaintext tree SRC into a new volume DIR\n"
	"                             (creates KEY when absent)\n"
	"  export DIR DEST            decrypt the volume into the new directory DEST\n"
	"  put DIR PATH               store standard input as PATH (creates parents)\n"
	"  cat DIR PATH               write PATH to standard output\n"
	"  ls DIR [PATH]              list a directory (or describe one file)\n"
	"  mkdir DIR PATH             create a directory and its parents\n"
	"  rm DIR PATH                remove a file, symlink or empty directory\n"
	"  compact DIR                reclaim the space of overwritten and deleted data\n"
	"  tag DIR                    print the volume tag (64 hex characters)\n"
	"  verify DIR [--tag HEX]     check every byte; with --tag, also freshness\n"
	"\n"
	"verify prints one line per problem, '<kind>: <where>: <detail>', kinds being\n"
	"modified, truncated, swapped, missing, unexpected, stale; a wrong key is reported\n"
	"as such. Exit codes: 0 success, 1 failure or problems found, 2 usage error.\n";

static int parse(int argc, char **argv, struct vopts *o)
{
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->key_file = optarg;
			break;
		case 't':
			o->tag_hex = optarg;
			break;
		case 'h':
			fputs(volume_help, stdout);
			return 1;
		default:
			return -1;
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == 3)
			return -1;
		o->args[o->nargs++] = argv[optind];
	}
	return 0;
}

static int open_volume(const struct vopts *o, struct shelter_volume **vol)
{
	struct shelter_err err;
	uint8_t *key;
	int rc;

	shelter_err_clear(&err);
	rc = cli_key_load(o->key_file, 0, &key, &err);
	if (rc < 0)
		return cli_fail("volume", &err);
	rc = shelter_volume_open(o->args[0], key, NULL, vol, &err);
	cli_key_free(key);
	return rc < 0 ? cli_fail("volume", &err) : CLI_OK;
}

static int do_create(const struct vopts *o)
{
	struct shelter_err err;
	uint8_t *key;
	int rc;

	shelter_err_clear(&err);
	rc = cli_key_load(o->key_file, 1, &key, &err);
	if (rc == 0) {
		rc = shelter_volume_create(o->args[0], key, &err);
		cli_key_free(key);
	}
	return rc < 0 ? cli_fail("create", &err) : CLI_OK;
}

/* ---- import ---------------------------------------------------------------- */

static void tree_size(const char *path, uint64_t *files, uint64_t *bytes)
{
	char child[4096];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) < 0)
		return;
	(*files)++;
	if (S_ISREG(st.st_mode))
		*bytes += (uint64_t)st.st_size;
	if (!S_ISDIR(st.st_mode) || (d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		tree_size(child, files, bytes);
	}
	closedir(d);
}

static int import_file(struct shelter_volume *vol, const char *src, const char *dst,
		       uint32_t mode, uint8_t *buf, struct cli_progress *p, struct shelter_err *err)
{
	struct shelter_file *f = NULL;
	uint64_t off = 0;
	ssize_t n;
	int rc, fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return shelter_err_errno(err, errno, "read '%s'", src);
	rc = shelter_file_open(vol, dst, SHELTER_O_WRONLY | SHELTER_O_CREAT | SHELTER_O_EXCL, mode,
			       &f, err);
	while (rc == 0 && (n = read(fd, buf, IO_SIZE)) != 0) {
		if (n < 0) {
			rc = shelter_err_errno(err, errno, "read '%s'", src);
			break;
		}
		rc = shelter_file_pwrite(f, buf, (size_t)n, off, NULL, err);
		off += (uint64_t)n;
		cli_progress_step(p, 0, (uint64_t)n);
	}
	shelter_file_close(f);
	close(fd);
	return rc;
}

static int import_tree(struct shelter_volume *vol, const char *src, const char *dst,
		       uint8_t *buf, struct cli_progress *p, struct shelter_err *err);

static int import_entry(struct shelter_volume *vol, const char *src, const char *dst,
			uint8_t *buf, struct cli_progress *p, struct shelter_err *err)
{
	char target[4096];
	struct stat st;
	ssize_t n;

	if (lstat(src, &st) < 0)
		return shelter_err_errno(err, errno, "stat '%s'", src);
	cli_progress_step(p, 1, 0);
	if (S_ISDIR(st.st_mode)) {
		int rc = shelter_volume_mkdir(vol, dst, st.st_mode & 07777, err);

		return rc < 0 ? rc : import_tree(vol, src, dst, buf, p, err);
	}
	if (S_ISREG(st.st_mode))
		return import_file(vol, src, dst, st.st_mode & 07777, buf, p, err);
	if (S_ISLNK(st.st_mode)) {
		n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return shelter_err_errno(err, errno, "readlink '%s'", src);
		target[n] = '\0';
		return shelter_volume_symlink(vol, target, dst, err);
	}
	fprintf(stderr, "shelter: import: skipping '%s': not a file, directory or symlink\n", src);
	return 0;
}

static int import_tree(struct shelter_volume *vol, const char *src, const char *dst,
		       uint8_t *buf, struct cli_progress *p, struct shelter_err *err)
{
	char csrc[4096], cdst[4096];
	struct dirent *e;
	DIR *d = opendir(src);
	int rc = 0;

	if (d == NULL)
		return shelter_err_errno(err, errno, "open directory '%s'", src);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(csrc, sizeof(csrc), "%s/%s", src, e->d_name) >= (int)sizeof(csrc) ||
		    snprintf(cdst, sizeof(cdst), "%s/%s", dst, e->d_name) >= (int)sizeof(cdst))
			rc = shelter_err_set(err, SHELTER_E_NAMETOOLONG, "path too long under '%s'", src);
		else
			rc = import_entry(vol, csrc, cdst, buf, p, err);
	}
	closedir(d);
	return rc;
}

static int do_import(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	struct cli_progress p;
	struct stat st;
	uint64_t files = 0, bytes = 0;
	uint8_t *buf = NULL;
	struct vopts vo = *o;
	int rc;

	if (stat(o->args[0], &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "shelter: import: '%s' is not a directory\n", o->args[0]);
		return CLI_FAIL;
	}
	vo.args[0] = o->args[1];
	rc = do_create(&vo);
	if (rc != CLI_OK || (rc = open_volume(&vo, &vol)) != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	tree_size(o->args[0], &files, &bytes);
	cli_progress_start(&p, "import", files - 1, bytes);
	buf = malloc(IO_SIZE);
	rc = buf ? import_tree(vol, o->args[0], "", buf, &p, &err)
		 : shelter_err_set(&err, SHELTER_E_NOMEM, "out of memory");
	if (rc == 0)
		rc = shelter_volume_sync(vol, &err);
	cli_progress_end(&p);
	if (buf)
		shelter_wipe(buf, IO_SIZE);
	free(buf);
	shelter_volume_close(vol);
	if (rc < 0)
		return cli_fail("import", &err);
	fprintf(stderr, "import: %llu files and directories, %llu bytes\n",
		(unsigned long long)(files - 1), (unsigned long long)bytes);
	return CLI_OK;
}

/* ---- export ---------------------------------------------------------------- */

struct export_ctx {
	struct shelter_volume *vol;
	const char *vpath;
	const char *hpath;
	uint8_t *buf;
	struct cli_progress *p;
	struct shelter_err *err;
};

static int export_dir(struct export_ctx *x);

static int export_file(struct export_ctx *x, const char *vpath, const char *hpath,
		       uint32_t mode)
{
	struct shelter_file *f = NULL;
	uint64_t off = 0;
	size_t got;
	int rc, fd = open(hpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);

	if (fd < 0)
		return shelter_err_errno(x->err, errno, "create '%s'", hpath);
	rc = shelter_file_open(x->vol, vpath, SHELTER_O_RDONLY, 0, &f, x->err);
	while (rc == 0) {
		rc = shelter_file_pread(f, x->buf, IO_SIZE, off, &got, x->err);
		if (rc < 0 || got == 0)
			break;
		if (write(fd, x->buf, got) != (ssize_t)got)
			rc = shelter_err_errno(x->err, errno, "write '%s'", hpath);
		off += got;
		cli_progress_step(x->p, 0, got);
	}
	shelter_file_close(f);
	if (rc == 0 && fsync(fd) < 0)
		rc = shelter_err_errno(x->err, errno, "sync '%s'", hpath);
	close(fd);
	return rc;
}

static int export_one(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct export_ctx *x = ctx, sub = *x;
	char vpath[4096], hpath[4096], target[4096];
	int rc = 0;

	snprintf(vpath, sizeof(vpath), "%s/%s", x->vpath, name);
	snprintf(hpath, sizeof(hpath), "%s/%s", x->hpath, name);
	cli_progress_step(x->p, 1, 0);
	switch (st->type) {
	case SHELTER_FT_DIR:
		if (mkdir(hpath, st->mode & 07777) < 0)
			return shelter_err_errno(x->err, errno, "mkdir '%s'", hpath);
		sub.vpath = vpath;
		sub.hpath = hpath;
		return export_dir(&sub);
	case SHELTER_FT_LNK:
		rc = shelter_volume_readlink(x->vol, vpath, target, sizeof(target), x->err);
		if (rc == 0 && symlink(target, hpath) < 0)
			rc = shelter_err_errno(x->err, errno, "symlink '%s'", hpath);
		return rc;
	default:
		return export_file(x, vpath, hpath, st->mode);
	}
}

static int export_dir(struct export_ctx *x)
{
	return shelter_volume_readdir(x->vol, x->vpath, export_one, x, x->err);
}

struct tally {
	struct shelter_volume *vol;
	char path[4096];
	uint64_t items, bytes;
};

/* Count what an export will write, so its progress can show a total. */
static int tally_one(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct tally *t = ctx;
	size_t len = strlen(t->path);
	int rc = 0;

	t->items++;
	if (st->type == SHELTER_FT_REG)
		t->bytes += st->size;
	if (st->type == SHELTER_FT_DIR && len + strlen(name) + 2 < sizeof(t->path)) {
		snprintf(t->path + len, sizeof(t->path) - len, "/%s", name);
		rc = shelter_volume_readdir(t->vol, t->path, tally_one, t, NULL);
		t->path[len] = '\0';
	}
	return rc;
}

static int do_export(const struct vopts *o)
{
	struct tally t = { 0 };
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	struct cli_progress p;
	struct export_ctx x = { .vpath = "", .hpath = o->args[1], .p = &p, .err = &err };
	int rc = open_volume(o, &vol);

	if (rc != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	if (mkdir(o->args[1], 0700) < 0) {
		shelter_err_errno(&err, errno, "create '%s' (it must not exist yet)", o->args[1]);
		shelter_volume_close(vol);
		return cli_fail("export", &err);
	}
	x.vol = vol;
	x.buf = malloc(IO_SIZE);
	t.vol = vol;
	if (shelter_volume_readdir(vol, "", tally_one, &t, NULL) < 0)
		t.items = t.bytes = 0; /* only the progress total; the export reports errors */
	cli_progress_start(&p, "export", t.items, t.bytes);
	rc = x.buf ? export_dir(&x) : shelter_err_set(&err, SHELTER_E_NOMEM, "out of memory");
	cli_progress_end(&p);
	if (x.buf)
		shelter_wipe(x.buf, IO_SIZE);
	free(x.buf);
	shelter_volume_close(vol);
	return rc < 0 ? cli_fail("export", &err) : CLI_OK;
}

/* ---- put, cat, ls, mkdir, rm, tag --------------------------------------------- */

static int put_parents(struct shelter_volume *vol, const char *path, struct shelter_err *err)
{
	char parent[SHELTER_VOLUME_PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent)
		return 0;
	*slash = '\0';
	return shelter_volume_mkdirs(vol, parent, 0755, err);
}

static int do_put(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_file *f = NULL;
	struct shelter_err err;
	uint64_t off = 0;
	uint8_t *buf = malloc(IO_SIZE);
	ssize_t n;
	int rc = buf ? open_volume(o, &vol) : CLI_FAIL;

	if (rc != CLI_OK) {
		free(buf);
		return rc;
	}
	shelter_err_clear(&err);
	rc = put_parents(vol, o->args[1], &err);
	if (rc == 0)
		rc = shelter_file_open(vol, o->args[1],
				       SHELTER_O_WRONLY | SHELTER_O_CREAT | SHELTER_O_TRUNC, 0644, &f,
				       &err);
	while (rc == 0 && (n = read(STDIN_FILENO, buf, IO_SIZE)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = shelter_err_errno(&err, errno, "read standard input");
			break;
		}
		rc = shelter_file_pwrite(f, buf, (size_t)n, off, NULL, &err);
		off += (uint64_t)n;
	}
	if (rc == 0)
		rc = shelter_file_sync(f, &err);
	shelter_file_close(f);
	shelter_volume_close(vol);
	shelter_wipe(buf, IO_SIZE);
	free(buf);
	return rc < 0 ? cli_fail("put", &err) : CLI_OK;
}

static int do_cat(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_file *f = NULL;
	struct shelter_err err;
	uint64_t off = 0;
	size_t got;
	uint8_t *buf = malloc(IO_SIZE);
	int rc = buf ? open_volume(o, &vol) : CLI_FAIL;

	if (rc != CLI_OK) {
		free(buf);
		return rc;
	}
	shelter_err_clear(&err);
	rc = shelter_file_open(vol, o->args[1], SHELTER_O_RDONLY, 0, &f, &err);
	while (rc == 0) {
		rc = shelter_file_pread(f, buf, IO_SIZE, off, &got, &err);
		if (rc < 0 || got == 0)
			break;
		if (fwrite(buf, 1, got, stdout) != got)
			rc = shelter_err_errno(&err, errno, "write standard output");
		off += got;
	}
	if (fflush(stdout) != 0 && rc == 0)
		rc = shelter_err_errno(&err, errno, "write standard output");
	shelter_file_close(f);
	shelter_volume_close(vol);
	shelter_wipe(buf, IO_SIZE);
	free(buf);
	return rc < 0 ? cli_fail("cat", &err) : CLI_OK;
}

static void mode_string(const struct shelter_stat *st, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = st->type == SHELTER_FT_DIR ? 'd' : st->type == SHELTER_FT_LNK ? 'l' : '-';
	for (int i = 0; i < 9; i++)
		out[i + 1] = (st->mode & (0400u >> i)) ? rwx[i] : '-';
	out[10] = '\0';
}

static int ls_one(void *ctx, const char *name, const struct shelter_stat *st)
{
	char mode[11], when[32];
	time_t t = (time_t)(st->mtime_ns / 1000000000);
	struct tm tm;

	(void)ctx;
	mode_string(st, mode);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s %12llu %s %s%s\n", mode, (unsigned long long)st->size, when, name,
	       st->type == SHELTER_FT_DIR ? "/" : "");
	return 0;
}

static int do_ls(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	struct shelter_stat st;
	const char *path = o->nargs > 1 ? o->args[1] : "";
	int rc = open_volume(o, &vol);

	if (rc != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	rc = shelter_volume_stat(vol, path, &st, &err);
	if (rc == 0 && st.type == SHELTER_FT_DIR)
		rc = shelter_volume_readdir(vol, path, ls_one, NULL, &err);
	else if (rc == 0)
		ls_one(NULL, path, &st);
	shelter_volume_close(vol);
	return rc < 0 ? cli_fail("ls", &err) : CLI_OK;
}

static int do_mkdir(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	int rc = open_volume(o, &vol);

	if (rc != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	rc = shelter_volume_mkdirs(vol, o->args[1], 0755, &err);
	if (rc == 0)
		rc = shelter_volume_sync(vol, &err);
	shelter_volume_close(vol);
	return rc < 0 ? cli_fail("mkdir", &err) : CLI_OK;
}

static int do_rm(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	struct shelter_stat st;
	int rc = open_volume(o, &vol);

	if (rc != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	rc = shelter_volume_stat(vol, o->args[1], &st, &err);
	if (rc == 0)
		rc = st.type == SHELTER_FT_DIR ? shelter_volume_rmdir(vol, o->args[1], &err)
					       : shelter_volume_unlink(vol, o->args[1], &err);
	if (rc == 0)
		rc = shelter_volume_sync(vol, &err);
	shelter_volume_close(vol);
	return rc < 0 ? cli_fail("rm", &err) : CLI_OK;
}

static int do_tag(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	char hex[2 * SHELTER_VOLUME_TAG_SIZE + 1];
	int rc = open_volume(o, &vol);

	if (rc != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	rc = shelter_volume_tag(vol, tag, &err);
	shelter_volume_close(vol);
	if (rc < 0)
		return cli_fail("tag", &err);
	shelter_hex(tag, sizeof(tag), hex);
	printf("%s\n", hex);
	return CLI_OK;
}

static uint64_t log_size(const char *dir)
{
	char path[4096];
	uint64_t total = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "%s/log", dir);
	d = opendir(path);
	while (d != NULL && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/log/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	if (d != NULL)
		closedir(d);
	return total;
}

static int do_compact(const struct vopts *o)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	uint64_t before = log_size(o->args[0]);
	int rc = open_volume(o, &vol);

	if (rc != CLI_OK)
		return rc;
	shelter_err_clear(&err);
	rc = shelter_volume_compact(vol, &err);
	shelter_volume_close(vol);
	if (rc < 0)
		return cli_fail("compact", &err);
	fprintf(stderr, "compact: log %.1f MiB -> %.1f MiB\n", (double)before / 1048576.0,
		(double)log_size(o->args[0]) / 1048576.0);
	return CLI_OK;
}

/* ---- verify ---------------------------------------------------------------- */

static const char *kind_name(int kind)
{
	switch (kind) {
	case 0: return "note";
	case SHELTER_E_INTEGRITY: return "modified";
	case SHELTER_E_TRUNCATED: return "truncated";
	case SHELTER_E_SWAPPED: return "swapped";
	case SHELTER_E_MISSING: return "missing";
	case SHELTER_E_UNEXPECTED: return "unexpected";
	case SHELTER_E_STALE: return "stale";
	default: return shelter_code_str(kind);
	}
}

static void print_problem(void *ctx, int kind, const char *where, const char *detail)
{
	unsigned *count = ctx;

	if (kind != 0)
		(*count)++;
	printf("%s: %s: %s\n", kind_name(kind), where, detail);
}

static int do_verify(const struct vopts *o)
{
	struct shelter_err err;
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE], *key;
	unsigned problems = 0;
	int rc;

	if (o->tag_hex != NULL && (strlen(o->tag_hex) != 64 || shelter_unhex(o->tag_hex, tag, 32) < 0))
		return cli_usage("volume verify: --tag takes 64 hex characters");
	shelter_err_clear(&err);
	rc = cli_key_load(o->key_file, 0, &key, &err);
	if (rc < 0)
		return cli_fail("verify", &err);
	rc = shelter_volume_verify(o->args[0], key, o->tag_hex ? tag : NULL, print_problem,
				   &problems, &err);
	cli_key_free(key);
	if (rc == SHELTER_E_BADKEY || (rc < 0 && problems == 0))
		return cli_fail("verify", &err);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "shelter: verify: %u problem%s found\n", problems,
			problems == 1 ? "" : "s");
		return CLI_FAIL;
	}
	printf("ok: volume intact%s\n", o->tag_hex ? " and fresh" : "");
	return CLI_OK;
}

struct verb {
	const char *name;
	int (*fn)(const struct vopts *o);
	int min_args, max_args;
	const char *args;
};

static const struct verb verbs[] = {
	{ "create", do_create, 1, 1, "DIR" },
	{ "import", do_import, 2, 2, "SRC DIR" },
	{ "export", do_export, 2, 2, "DIR DEST" },
	{ "put", do_put, 2, 2, "DIR PATH" },
	{ "cat", do_cat, 2, 2, "DIR PATH" },
	{ "ls", do_ls, 1, 2, "DIR [PATH]" },
	{ "mkdir", do_mkdir, 2, 2, "DIR PATH" },
	{ "rm", do_rm, 2, 2, "DIR PATH" },
	{ "compact", do_compact, 1, 1, "DIR" },
	{ "tag", do_tag, 1, 1, "DIR" },
	{ "verify", do_verify, 1, 1, "DIR [--tag HEX]" },
};

int cmd_volume(int argc, char **argv)
{
	struct vopts o;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(volume_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb *v = &verbs[i];

		if (strcmp(argv[1], v->name) != 0)
			continue;
		rc = parse(argc - 1, argv + 1, &o);
		if (rc > 0)
			return CLI_OK;
		if (rc < 0 || o.nargs < v->min_args || o.nargs > v->max_args)
			return cli_usage("usage: shelter volume %s %s --key-file KEY", v->name, v->args);
		if (o.key_file == NULL)
			return cli_usage("volume %s: --key-file KEY is required", v->name);
		if (o.tag_hex != NULL && v->fn != do_verify)
			return cli_usage("volume %s: --tag applies to verify only", v->name);
		return v->fn(&o);
	}
	return cli_usage("volume: unknown verb '%s' (see 'shelter volume --help')", argv[1]);
}
