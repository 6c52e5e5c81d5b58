/* cac._scan: the note scanners that run over every character of every note, compiled.
 *
 * Each function gives exactly what its pure-Python twin gives (the twin is the reference, and the
 * tests compare the two on generated text):
 *   word_tokens(text)        == cac.scan.word_tokens_py(text)
 *   alnum_runs(text, skip[, fold]) == cac.scan.alnum_runs_py(text, skip, fold)
 *   canonical_tokens(toks, canon, context) == cac.scan.canonical_tokens_py(toks, canon, context)
 *   sentence_bits(sentences) == cac.scan.sentence_bits_py(sentences)
 *   screen(...)              == the numpy test of cac.lexicon.matcher.TermMatcher._screen
 *   resolve(...)             == cac.lexicon.matcher.TermMatcher._resolve (as tuples)
 *   concept_tokens(...)      == cac.pipeline.concepts._concept_tokens_py
 *   phrase_find(...)         == cac.suggest.procedures._PhraseIndex.find (twin: _find_py)
 *   descriptor_counts(...)   == the numpy count of cac.suggest.procedures.DescriptorMatcher._scored
 *   word_ids(words, index, missing) == numpy int64 bytes of [index.get(w, missing) for w in words]
 *   token_hashes(...)        == doc.to_array(ORTH / LOWER) (cac.pipeline.extensions.token_hash_array)
 *   hash_phrase_find(...)    == spaCy's PhraseMatcher (cac.pipeline.phrase_matcher.TokenPhraseMatcher)
 *   PlainShortcut            == cac.pipeline.tokenizer_shortcuts._ShortcutCall (a tokenizer expression,
 *                               answered at once for plain words and numbers)
 * Both read only ASCII letters and digits, so any other character (whatever the string's width) only
 * separates words.  The module is optional: without a C compiler the Python twins run instead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_LOWER(c) ((c) >= 'a' && (c) <= 'z')
#define IS_LETTER(c) (IS_UPPER(c) || IS_LOWER(c))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_SUBSTAGE(c) (((c) >= 'A' && (c) <= 'D') || ((c) >= 'a' && (c) <= 'd'))

/* Append a new reference to ``list`` and let it go (NULL: the call that made it failed); -1 on error. */
static int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL) {
        return -1;
    }
    int failed = PyList_Append(list, item);
    Py_DECREF(item);
    return failed;
}

/* text[start:end] with ASCII upper case lowered (the range holds ASCII letters, digits and '.' only). */
static PyObject *
lowered(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *word = PyUnicode_New(end - start, 127);
    if (word == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(word);
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        out[i - start] = (Py_UCS1)(IS_UPPER(c) ? c + 32 : c);
    }
    return word;
}

/* Append (word, start, end) to list. */
static int
append_token(PyObject *list, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *word = lowered(kind, data, start, end);
    if (word == NULL) {
        return -1;
    }
    PyObject *a = PyLong_FromSsize_t(start);
    PyObject *b = PyLong_FromSsize_t(end);
    if (a == NULL || b == NULL) {
        Py_DECREF(word);
        Py_XDECREF(a);
        Py_XDECREF(b);
        return -1;
    }
    PyObject *item = PyTuple_New(3);
    if (item == NULL) {
        Py_DECREF(word);
        Py_DECREF(a);
        Py_DECREF(b);
        return -1;
    }
    PyTuple_SET_ITEM(item, 0, word);
    PyTuple_SET_ITEM(item, 1, a);
    PyTuple_SET_ITEM(item, 2, b);
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* The end of the word token starting at ``i`` in text[..n) (i must hold a letter or digit). */
static Py_ssize_t
token_end(int kind, const void *data, Py_ssize_t i, Py_ssize_t n)
{
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    i++;
    if (IS_LETTER(c)) {
        while (i < n && IS_LETTER(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        return i;
    }
    while (i < n && IS_DIGIT(PyUnicode_READ(kind, data, i))) {
        i++;
    }
    if (i + 1 < n && PyUnicode_READ(kind, data, i) == '.' && IS_DIGIT(PyUnicode_READ(kind, data, i + 1))) {
        i += 2;
        while (i < n && IS_DIGIT(PyUnicode_READ(kind, data, i))) {
            i++;
        }
    }
    if (i < n && IS_SUBSTAGE(PyUnicode_READ(kind, data, i)) && !(i + 1 < n && IS_LETTER(PyUnicode_READ(kind, data, i + 1)))) {
        i++;
    }
    return i;
}

/* The matches of [A-Za-z]+|[0-9]+(?:\.[0-9]+)?(?:[A-Da-d](?![A-Za-z]))? in order, lower-cased. */
static PyObject *
word_tokens(PyObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "word_tokens() needs a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    Py_ssize_t i = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!IS_LETTER(c) && !IS_DIGIT(c)) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        i = token_end(kind, data, i, n);
        if (append_token(out, kind, data, start, i) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

#define IS_ALNUM_LOWER(c) (IS_LOWER(c) || IS_DIGIT(c))

/* A word's singular as the procedure coder reads it (cac.scan.singular_py): "-ies" -> "-y" past 4 letters,
 * a final "s" dropped past 3 letters unless the word ends in "ss", "us" or "is"; a new reference (``word``
 * itself, another reference, when it stays). */
static PyObject *
singular(PyObject *word)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(word);
    const Py_UCS1 *w = PyUnicode_1BYTE_DATA(word);
    if (n > 4 && w[n - 3] == 'i' && w[n - 2] == 'e' && w[n - 1] == 's') {
        PyObject *out = PyUnicode_New(n - 2, 127);
        if (out != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(out), w, (size_t)(n - 3));
            PyUnicode_1BYTE_DATA(out)[n - 3] = 'y';
        }
        return out;
    }
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i') {
        return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, w, n - 1);
    }
    Py_INCREF(word);
    return word;
}

/* The maximal runs of [a-z0-9] of an (already lower-cased) text that are not in ``skip`` (a set of
 * str): (starts, ends, words); with ``fold`` true each word is its singular (``singular``). */
static PyObject *
alnum_runs(PyObject *self, PyObject *args)
{
    PyObject *text, *skip;
    int fold = 0;
    if (!PyArg_ParseTuple(args, "UO|p:alnum_runs", &text, &skip, &fold)) {
        return NULL;
    }
    if (!PyAnySet_Check(skip)) {
        PyErr_SetString(PyExc_TypeError, "alnum_runs() needs a set or frozenset of words to skip");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *starts = PyList_New(0), *ends = PyList_New(0), *words = PyList_New(0);
    if (starts == NULL || ends == NULL || words == NULL) {
        goto fail;
    }
    Py_ssize_t i = 0;
    while (i < n) {
        if (!IS_ALNUM_LOWER(PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        while (i < n && IS_ALNUM_LOWER(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        PyObject *word = lowered(kind, data, start, i);
        if (word == NULL) {
            goto fail;
        }
        int skipped = PySet_Contains(skip, word);
        if (skipped < 0) {
            Py_DECREF(word);
            goto fail;
        }
        if (skipped) {
            Py_DECREF(word);
            continue;
        }
        if (fold) {
            PyObject *one = singular(word);
            Py_DECREF(word);
            if (one == NULL) {
                goto fail;
            }
            word = one;
        }
        PyObject *a = PyLong_FromSsize_t(start), *b = PyLong_FromSsize_t(i);
        int rc = (a == NULL || b == NULL) ? -1 : 0;
        if (rc == 0) {
            rc = PyList_Append(starts, a);
        }
        if (rc == 0) {
            rc = PyList_Append(ends, b);
        }
        if (rc == 0) {
            rc = PyList_Append(words, word);
        }
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_DECREF(word);
        if (rc < 0) {
            goto fail;
        }
    }
    return Py_BuildValue("(NNN)", starts, ends, words);
fail:
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    Py_XDECREF(words);
    return NULL;
}


/* normalize_tokens' usual case: [(c, s, e) for w, s, e in toks for c in canon(w)], None when a word of
 * ``toks`` is in ``context`` (its canonical form depends on its neighbours: the caller reads those).
 * A token whose canonical form is its own word is kept as it is (an equal tuple). */
static PyObject *
canonical_tokens(PyObject *self, PyObject *args)
{
    PyObject *toks, *canon, *context;
    if (!PyArg_ParseTuple(args, "OOO:canonical_tokens", &toks, &canon, &context)) {
        return NULL;
    }
    if (!PyAnySet_Check(context)) {
        PyErr_SetString(PyExc_TypeError, "canonical_tokens() needs a set or frozenset of context words");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(toks, "canonical_tokens() needs a sequence of (word, start, end) tuples");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = items[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) {
            PyErr_SetString(PyExc_TypeError, "canonical_tokens() needs (word, start, end) tuples");
            Py_DECREF(seq);
            return NULL;
        }
        int found = PySet_Contains(context, PyTuple_GET_ITEM(t, 0));
        if (found != 0) {
            Py_DECREF(seq);
            if (found < 0) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = items[i];
        PyObject *word = PyTuple_GET_ITEM(t, 0);
        PyObject *forms = PyObject_CallOneArg(canon, word);
        if (forms == NULL) {
            goto fail;
        }
        if (!PyTuple_Check(forms)) {
            Py_DECREF(forms);
            PyErr_SetString(PyExc_TypeError, "canonical_tokens(): canon() must return a tuple");
            goto fail;
        }
        Py_ssize_t k = PyTuple_GET_SIZE(forms);
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *c = PyTuple_GET_ITEM(forms, j);
            int rc;
            int same = PyTuple_CheckExact(t) && (c == word || (PyUnicode_CheckExact(c) && PyUnicode_CheckExact(word)
                                                              && PyUnicode_Compare(c, word) == 0));
            if (same) {  /* the word is its own canonical form: the token is kept as it is */
                rc = PyList_Append(out, t);
            }
            else {
                PyObject *item = PyTuple_Pack(3, c, PyTuple_GET_ITEM(t, 1), PyTuple_GET_ITEM(t, 2));
                if (item == NULL) {
                    Py_DECREF(forms);
                    goto fail;
                }
                rc = PyList_Append(out, item);
                Py_DECREF(item);
            }
            if (rc < 0) {
                Py_DECREF(forms);
                goto fail;
            }
        }
        Py_DECREF(forms);
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_DECREF(out);
    Py_DECREF(seq);
    return NULL;
}

/* {token: the sentences holding it, as the bits of an int} for a list of sentences (lists of str). */
static PyObject *
sentence_bits(PyObject *self, PyObject *sentences)
{
    PyObject *seq = PySequence_Fast(sentences, "sentence_bits() needs a sequence of token lists");
    if (seq == NULL) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    PyObject *one = PyLong_FromLong(1);
    if (out == NULL || one == NULL) {
        goto fail;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *toks = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, i), "sentence_bits() needs token lists");
        if (toks == NULL) {
            goto fail;
        }
        PyObject *shift = PyLong_FromSsize_t(i);
        PyObject *bit = shift == NULL ? NULL : PyNumber_Lshift(one, shift);
        Py_XDECREF(shift);
        if (bit == NULL) {
            Py_DECREF(toks);
            goto fail;
        }
        Py_ssize_t k = PySequence_Fast_GET_SIZE(toks);
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *tok = PySequence_Fast_GET_ITEM(toks, j);
            PyObject *have = PyDict_GetItemWithError(out, tok);  /* borrowed */
            int rc;
            if (have == NULL) {
                rc = PyErr_Occurred() ? -1 : PyDict_SetItem(out, tok, bit);
            }
            else {
                PyObject *both = PyNumber_Or(have, bit);
                rc = both == NULL ? -1 : PyDict_SetItem(out, tok, both);
                Py_XDECREF(both);
            }
            if (rc < 0) {
                Py_DECREF(bit);
                Py_DECREF(toks);
                goto fail;
            }
        }
        Py_DECREF(bit);
        Py_DECREF(toks);
    }
    Py_DECREF(one);
    Py_DECREF(seq);
    return out;
fail:
    Py_XDECREF(one);
    Py_XDECREF(out);
    Py_DECREF(seq);
    return NULL;
}

/* One array argument: the object, its item size in bytes, the format letters it may have (an optional
 * byte-order prefix aside) and its name for errors. */
typedef struct {
    PyObject *obj;
    Py_ssize_t itemsize;
    const char *formats;
    const char *name;
} ArraySpec;

#define INT64_FORMATS "qlQL"
#define INT32_FORMATS "iIlL"

/* Read-only C-contiguous buffers of ``specs`` into ``views`` (all or none: on a wrong array every
 * buffer taken so far is released and a TypeError names ``fn`` and the argument). */
static int
acquire_buffers(const char *fn, const ArraySpec *specs, int n, Py_buffer *views)
{
    for (int i = 0; i < n; i++) {
        Py_buffer *view = &views[i];
        int ok = PyObject_GetBuffer(specs[i].obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0;
        if (ok) {
            const char *f = view->format ? view->format : "B";
            if (*f == '<' || *f == '=' || *f == '@') {
                f++;
            }
            if (view->itemsize != specs[i].itemsize || *f == '\0' || strchr(specs[i].formats, *f) == NULL
                    || f[1] != '\0') {
                PyErr_Format(PyExc_TypeError, "%s(): %s must be an array of %zd-byte %s", fn, specs[i].name,
                             specs[i].itemsize, strcmp(specs[i].formats, "d") == 0 ? "floats" : "integers");
                PyBuffer_Release(view);
                ok = 0;
            }
        }
        if (!ok) {
            for (int j = 0; j < i; j++) {
                PyBuffer_Release(&views[j]);
            }
            return -1;
        }
    }
    return 0;
}

/* Release the first ``held`` of ``views``. */
static void
release_buffers(Py_buffer *views, int held)
{
    for (int i = 0; i < held; i++) {
        PyBuffer_Release(&views[i]);
    }
}

typedef struct {
    int64_t rank;
    Py_ssize_t id;
} RankedId;

static int
by_index(const void *a, const void *b)
{
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

static int
by_rank(const void *a, const void *b)
{
    int64_t x = ((const RankedId *)a)->rank, y = ((const RankedId *)b)->rank;
    return (x > y) - (x < y);
}

/* TermMatcher._screen's array test: ``(term id, sentence)`` for each row of each anchor of the note
 * (anchors in rank order, rows in order) whose required tokens are all in one sentence (sentences in
 * order).  ``in_sents``: {token: its sentences as the bits of an int}; ``token_ids``: {token: id};
 * per id: ``slot_start``, ``slot_rows``, ``token_rank`` (int64); per row: the required token ids other
 * than its anchor's, rarest first, at ``row_ids[row_start[r]:row_start[r + 1]]`` (int32; a row is a few
 * bytes, so the thousands of rows a note's anchors hold are read from few cache lines), and
 * ``row_tids``: int32 term id of each row. */
static PyObject *
screen(PyObject *self, PyObject *args)
{
    PyObject *in_sents, *token_ids, *o_start, *o_nrows, *o_rank, *o_row_start, *o_row_ids, *o_tids;
    Py_ssize_t n_sentences;
    if (!PyArg_ParseTuple(args, "O!nO!OOOOOO:screen", &PyDict_Type, &in_sents, &n_sentences, &PyDict_Type,
                          &token_ids, &o_start, &o_nrows, &o_rank, &o_row_start, &o_row_ids, &o_tids)) {
        return NULL;
    }
    if (n_sentences < 0) {
        PyErr_SetString(PyExc_ValueError, "screen(): bad sentence count");
        return NULL;
    }
    Py_buffer views[6];
    Py_buffer *b_start = &views[0], *b_nrows = &views[1], *b_rank = &views[2], *b_row_start = &views[3],
              *b_row_ids = &views[4], *b_tids = &views[5];
    const ArraySpec specs[6] = {{o_start, 8, INT64_FORMATS, "slot_start"}, {o_nrows, 8, INT64_FORMATS, "slot_rows"},
                                {o_rank, 8, INT64_FORMATS, "token_rank"}, {o_row_start, 4, INT32_FORMATS, "row_start"},
                                {o_row_ids, 4, INT32_FORMATS, "row_ids"}, {o_tids, 4, INT32_FORMATS, "row_tids"}};
    int held = 0;
    PyObject *out = NULL;
    int32_t *local = NULL;      /* token id -> 1 + its place in ``bits`` (0: not in the note) */
    uint64_t *bits = NULL;      /* per present token, its sentences as 64-bit chunks */
    Py_ssize_t *anchors = NULL; /* ids of the note's tokens that anchor rows */
    RankedId *keyed = NULL;
    uint64_t *common = NULL;
    unsigned char *raw = NULL;
    if (acquire_buffers("screen", specs, 6, views) < 0) goto done;
    held = 6;
    Py_ssize_t n_ids = b_start->len / 8;
    Py_ssize_t n_rows = b_tids->len / 4;
    Py_ssize_t n_flat = b_row_ids->len / 4;
    if (b_nrows->len / 8 != n_ids || b_rank->len / 8 != n_ids || b_row_start->len / 4 != n_rows + 1) {
        PyErr_SetString(PyExc_ValueError, "screen(): the arrays do not agree in size");
        goto done;
    }
    const int64_t *slot_start = b_start->buf, *slot_rows = b_nrows->buf, *rank = b_rank->buf;
    const int32_t *row_start = b_row_start->buf, *row_ids = b_row_ids->buf, *tids = b_tids->buf;
    Py_ssize_t chunks = (n_sentences + 63) / 64;
    Py_ssize_t n_present = PyDict_GET_SIZE(in_sents);
    out = PyList_New(0);
    local = PyMem_Calloc(n_ids > 0 ? n_ids : 1, sizeof(int32_t));
    bits = PyMem_Calloc((n_present + 1) * (chunks > 0 ? chunks : 1), sizeof(uint64_t));
    anchors = PyMem_Malloc((n_present + 1) * sizeof(Py_ssize_t));
    keyed = PyMem_Malloc((n_present + 1) * sizeof(RankedId));
    common = PyMem_Malloc((chunks > 0 ? chunks : 1) * sizeof(uint64_t));
    raw = PyMem_Malloc((chunks > 0 ? chunks : 1) * 8);
    if (out == NULL || local == NULL || bits == NULL || anchors == NULL || keyed == NULL || common == NULL
            || raw == NULL) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto fail;
    }
    if (chunks == 0) {
        goto done;
    }
    Py_ssize_t pos = 0, k = 0, n_anchors = 0;
    PyObject *tok, *value;
    while (PyDict_Next(in_sents, &pos, &tok, &value)) {
        PyObject *id_obj = PyDict_GetItemWithError(token_ids, tok);
        if (id_obj == NULL) {
            if (PyErr_Occurred()) goto fail;
            continue;  /* a token no screened term requires */
        }
        Py_ssize_t id = PyLong_AsSsize_t(id_obj);
        if (id == -1 && PyErr_Occurred()) goto fail;
        if (id <= 0 || id >= n_ids) {
            PyErr_SetString(PyExc_ValueError, "screen(): a token id is out of range");
            goto fail;
        }
        if (!PyLong_Check(value) || _PyLong_Sign(value) < 0) {
            PyErr_SetString(PyExc_TypeError, "screen(): sentence bits must be non-negative ints");
            goto fail;
        }
        if (_PyLong_AsByteArray((PyLongObject *)value, raw, (size_t)chunks * 8, 1, 0) < 0) goto fail;
        for (Py_ssize_t c = 0; c < chunks; c++) {
            uint64_t v = 0;
            for (int byte = 7; byte >= 0; byte--) {
                v = (v << 8) | raw[c * 8 + byte];
            }
            bits[k * chunks + c] = v;
        }
        local[id] = (int32_t)(k + 1);
        k++;
        if (slot_rows[id] > 0) {
            anchors[n_anchors++] = id;
        }
    }
    /* anchors in rank order: sorted as (rank, id) pairs (ranks are distinct) */
    for (Py_ssize_t i = 0; i < n_anchors; i++) {
        keyed[i].rank = rank[anchors[i]];
        keyed[i].id = anchors[i];
    }
    qsort(keyed, (size_t)n_anchors, sizeof(RankedId), by_rank);
    for (Py_ssize_t i = 0; i < n_anchors; i++) {
        anchors[i] = keyed[i].id;
    }
    for (Py_ssize_t i = 0; i < n_anchors; i++) {
        Py_ssize_t id = anchors[i];
        Py_ssize_t first = slot_start[id], last = slot_start[id] + slot_rows[id];
        if (first < 0 || last > n_rows) {
            PyErr_SetString(PyExc_ValueError, "screen(): a slot is out of range");
            goto fail;
        }
        const uint64_t *own = bits + (local[id] - 1) * chunks;  /* the anchor's sentences */
        for (Py_ssize_t r = first; r < last; r++) {
            Py_ssize_t from = row_start[r], to = row_start[r + 1];
            if (from < 0 || to < from || to > n_flat) {
                PyErr_SetString(PyExc_ValueError, "screen(): a row is out of range");
                goto fail;
            }
            int alive = 1;
            for (Py_ssize_t w = from; w < to; w++) {  /* the rarest first: most rows stop at once */
                int32_t t = row_ids[w];
                if (t <= 0 || t >= n_ids || local[t] == 0) {
                    alive = 0;
                    break;
                }
            }
            if (!alive) {
                continue;
            }
            uint64_t any = 0;
            for (Py_ssize_t c = 0; c < chunks; c++) {
                common[c] = own[c];
            }
            for (Py_ssize_t w = from; w < to; w++) {
                const uint64_t *tb = bits + (local[row_ids[w]] - 1) * chunks;
                any = 0;
                for (Py_ssize_t c = 0; c < chunks; c++) {
                    common[c] &= tb[c];
                    any |= common[c];
                }
                if (!any) {
                    break;
                }
            }
            for (Py_ssize_t c = 0; c < chunks; c++) {
                uint64_t v = common[c];
                while (v) {
                    int b = __builtin_ctzll(v);
                    v &= v - 1;
                    Py_ssize_t sentence = c * 64 + b;
                    PyObject *pair = Py_BuildValue("(in)", (int)tids[r], sentence);
                    if (pair == NULL || PyList_Append(out, pair) < 0) {
                        Py_XDECREF(pair);
                        goto fail;
                    }
                    Py_DECREF(pair);
                }
            }
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyMem_Free(local);
    PyMem_Free(bits);
    PyMem_Free(anchors);
    PyMem_Free(keyed);
    PyMem_Free(common);
    PyMem_Free(raw);
    release_buffers(views, held);
    return out;
}

/* DescriptorMatcher._scored's count: per sentence (ascending), ``(words present, coverage, descriptor)``
 * for each descriptor (ascending) with at least ``min_overlap`` of its words in the sentence and
 * ``coverage = present / max(size, 1) >= min_coverage``.  ``ids``: each word's index (-1: in no
 * descriptor); ``sentence_of``: each word's sentence (non-decreasing); ``offsets``/``codes``: the
 * descriptors of word w are codes[offsets[w]:offsets[w + 1]] (int64); ``sizes``: float64 word count of
 * each descriptor.  Returns {sentence: [(n, coverage, descriptor), ...]}. */
static PyObject *
descriptor_counts(PyObject *self, PyObject *args)
{
    PyObject *o_ids, *o_sent, *o_offsets, *o_codes, *o_sizes;
    Py_ssize_t min_overlap;
    double min_coverage;
    if (!PyArg_ParseTuple(args, "OOOOOnd:descriptor_counts", &o_ids, &o_sent, &o_offsets, &o_codes, &o_sizes,
                          &min_overlap, &min_coverage)) {
        return NULL;
    }
    Py_buffer views[5];
    Py_buffer *b_ids = &views[0], *b_sent = &views[1], *b_offsets = &views[2], *b_codes = &views[3],
              *b_sizes = &views[4];
    const ArraySpec specs[5] = {{o_ids, 8, INT64_FORMATS, "ids"}, {o_sent, 8, INT64_FORMATS, "sentence_of"},
                                {o_offsets, 8, INT64_FORMATS, "offsets"}, {o_codes, 8, INT64_FORMATS, "codes"},
                                {o_sizes, 8, "d", "sizes"}};
    int held = 0;
    PyObject *out = NULL;
    int32_t *count = NULL;       /* per descriptor, its words seen in the current sentence */
    Py_ssize_t *touched = NULL;  /* descriptors counted in the current sentence */
    Py_ssize_t *seen_at = NULL;  /* per word index, the last sentence group (from 1) it was counted in */
    if (acquire_buffers("descriptor_counts", specs, 5, views) < 0) goto done;
    held = 5;
    Py_ssize_t n = b_ids->len / 8, n_words = b_offsets->len / 8 - 1, n_codes = b_sizes->len / 8;
    Py_ssize_t n_pairs = b_codes->len / 8;
    if (b_sent->len / 8 != n || n_words < 0) {
        PyErr_SetString(PyExc_ValueError, "descriptor_counts(): the arrays do not agree in size");
        goto done;
    }
    const int64_t *ids = b_ids->buf, *sent = b_sent->buf, *offsets = b_offsets->buf, *codes = b_codes->buf;
    const double *sizes = b_sizes->buf;
    out = PyDict_New();
    count = PyMem_Calloc(n_codes > 0 ? n_codes : 1, sizeof(int32_t));
    touched = PyMem_Malloc((n_codes > 0 ? n_codes : 1) * sizeof(Py_ssize_t));
    seen_at = PyMem_Calloc(n_words > 0 ? n_words : 1, sizeof(Py_ssize_t));
    if (out == NULL || count == NULL || touched == NULL || seen_at == NULL) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto fail;
    }
    Py_ssize_t i = 0, group = 0;
    while (i < n) {
        int64_t s = sent[i];
        Py_ssize_t n_touched = 0;
        group++;
        for (; i < n && sent[i] == s; i++) {
            int64_t w = ids[i];
            if (w < 0) {
                continue;
            }
            if (w >= n_words) {
                PyErr_SetString(PyExc_ValueError, "descriptor_counts(): a word index is out of range");
                goto fail;
            }
            if (seen_at[w] == group) {
                continue;  /* a word counts once a sentence */
            }
            seen_at[w] = group;
            if (offsets[w] < 0 || offsets[w + 1] > n_pairs || offsets[w] > offsets[w + 1]) {
                PyErr_SetString(PyExc_ValueError, "descriptor_counts(): an offset is out of range");
                goto fail;
            }
            for (int64_t k = offsets[w]; k < offsets[w + 1]; k++) {
                int64_t c = codes[k];
                if (c < 0 || c >= n_codes) {
                    PyErr_SetString(PyExc_ValueError, "descriptor_counts(): a descriptor index is out of range");
                    goto fail;
                }
                if (count[c]++ == 0) {
                    touched[n_touched++] = (Py_ssize_t)c;
                }
            }
        }
        if (i < n && sent[i] < s) {
            PyErr_SetString(PyExc_ValueError, "descriptor_counts(): sentence numbers must not decrease");
            goto fail;
        }
        /* the descriptors the sentence covers enough (few), kept in ``touched``'s front, then ascending */
        Py_ssize_t n_kept = 0;
        for (Py_ssize_t t = 0; t < n_touched; t++) {
            Py_ssize_t c = touched[t];
            int32_t have = count[c];
            count[c] = 0;
            double size = sizes[c] > 1.0 ? sizes[c] : 1.0;
            if (have >= min_overlap && (double)have / size >= min_coverage) {
                touched[n_kept++] = c;
                count[c] = -have;  /* kept: its count, negated, until the list is built */
            }
        }
        qsort(touched, (size_t)n_kept, sizeof(Py_ssize_t), by_index);
        PyObject *found = NULL;
        for (Py_ssize_t t = 0; t < n_kept; t++) {
            Py_ssize_t c = touched[t];
            int32_t have = -count[c];
            count[c] = 0;
            double size = sizes[c] > 1.0 ? sizes[c] : 1.0;
            if (found == NULL) {
                found = PyList_New(0);
                if (found == NULL) goto fail;
            }
            PyObject *item = Py_BuildValue("(ldn)", (long)have, (double)have / size, c);
            if (item == NULL || PyList_Append(found, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(found);
                goto fail;
            }
            Py_DECREF(item);
        }
        if (found != NULL) {
            PyObject *key = PyLong_FromLongLong(s);
            int rc = key == NULL ? -1 : PyDict_SetItem(out, key, found);
            Py_XDECREF(key);
            Py_DECREF(found);
            if (rc < 0) goto fail;
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyMem_Free(count);
    PyMem_Free(touched);
    PyMem_Free(seen_at);
    release_buffers(views, held);
    return out;
}

/* Make room for one more item in a growable array (``*items``, ``len`` used of ``*cap``; first size
 * ``first``): 0, or -1 with MemoryError set. */
static int
grow(void **items, Py_ssize_t len, Py_ssize_t *cap, size_t itemsize, Py_ssize_t first)
{
    if (len < *cap) {
        return 0;
    }
    Py_ssize_t more = *cap ? 2 * *cap : first;
    void *grown = PyMem_Realloc(*items, (size_t)more * itemsize);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *items = grown;
    *cap = more;
    return 0;
}

/* ---- concept_tokens: the concept matcher's canonical tokens of every sentence, in one pass ---- */

typedef struct {
    PyObject *word;  /* owned */
    Py_ssize_t start, end;
} RawToken;

typedef struct {
    RawToken *items;
    Py_ssize_t len, cap;
} RawTokens;

static void
raw_clear(RawTokens *r)
{
    for (Py_ssize_t i = 0; i < r->len; i++) {
        Py_DECREF(r->items[i].word);
    }
    r->len = 0;
}

/* Append (word, start, end), taking over the reference to ``word`` (released on failure). */
static int
raw_push(RawTokens *r, PyObject *word, Py_ssize_t start, Py_ssize_t end)
{
    if (grow((void **)&r->items, r->len, &r->cap, sizeof(RawToken), 64) < 0) {
        Py_DECREF(word);
        return -1;
    }
    r->items[r->len++] = (RawToken){word, start, end};
    return 0;
}

/* The word tokens of text[start:end] (as word_tokens reads that slice), each at ``at`` when ``at`` is given
 * (an abbreviation's expansion stands at the abbreviation's place), else at its own offsets. */
static int
raw_scan(RawTokens *r, PyObject *text, Py_ssize_t start, Py_ssize_t end, const Py_ssize_t *at)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t i = start;
    while (i < end) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!IS_LETTER(c) && !IS_DIGIT(c)) {
            i++;
            continue;
        }
        Py_ssize_t stop = token_end(kind, data, i, end);
        PyObject *word = lowered(kind, data, i, stop);
        if (word == NULL || raw_push(r, word, at ? at[0] : i, at ? at[1] : stop) < 0) {
            return -1;
        }
        i = stop;
    }
    return 0;
}

/* bisect_left over the first items (Python ints) of ``pairs`` (a list of tuples), in [lo, hi). */
static Py_ssize_t
bisect_first(PyObject *pairs, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t x)
{
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        Py_ssize_t v = PyLong_AsSsize_t(PyTuple_GET_ITEM(PyList_GET_ITEM(pairs, mid), 0));
        if (v < x) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

typedef struct {
    int64_t *items;
    Py_ssize_t len, cap;
} Int64s;

static int
int64_push(Int64s *b, int64_t v)
{
    if (grow((void **)&b->items, b->len, &b->cap, sizeof(int64_t), 1024) < 0) {
        return -1;
    }
    b->items[b->len++] = v;
    return 0;
}

/* Check that ``list`` is a list of tuples of at least ``width`` items, the first ``ints`` of them ints. */
static int
check_rows(const char *name, PyObject *list, Py_ssize_t width, Py_ssize_t ints)
{
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "concept_tokens(): %s must be a list of tuples", name);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *t = PyList_GET_ITEM(list, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < width) {
            PyErr_Format(PyExc_TypeError, "concept_tokens(): %s must be a list of %zd-tuples", name, width);
            return -1;
        }
        for (Py_ssize_t k = 0; k < ints; k++) {
            if (!PyLong_Check(PyTuple_GET_ITEM(t, k))) {
                PyErr_Format(PyExc_TypeError, "concept_tokens(): %s must hold int offsets", name);
                return -1;
            }
        }
        if (width == 3 && !PyUnicode_Check(PyTuple_GET_ITEM(t, 2))) {
            PyErr_Format(PyExc_TypeError, "concept_tokens(): %s must hold str expansions", name);
            return -1;
        }
    }
    return 0;
}

/* ConceptMatcher's canonical tokens of each sentence (twin: cac.pipeline.concepts._concept_tokens_py):
 * ``bounds`` [(start, end)] of the sentences in order; ``expansions`` [(start, end, text)] of the
 * abbreviations, sorted; ``headers`` [(start, end)] of the section headers, sorted; ``canon(word)`` ->
 * tuple of canonical forms (``canon[word]`` when canon is a dict: a memo, its ``__missing__`` filling it);
 * ``context``: words whose form depends on their neighbours (a sentence holding
 * one goes to ``fallback(raw tokens)`` -> [(form, start, end)]).  Returns (forms per kept sentence, starts
 * and ends of the forms as native int64 bytes, cumulative form counts). */
static PyObject *
concept_tokens(PyObject *self, PyObject *args)
{
    PyObject *text, *bounds, *expansions, *headers, *canon, *context, *fallback;
    if (!PyArg_ParseTuple(args, "UO!O!O!OOO:concept_tokens", &text, &PyList_Type, &bounds, &PyList_Type,
                          &expansions, &PyList_Type, &headers, &canon, &context, &fallback)) {
        return NULL;
    }
    if (!PyAnySet_Check(context)) {
        PyErr_SetString(PyExc_TypeError, "concept_tokens() needs a set or frozenset of context words");
        return NULL;
    }
    if (check_rows("bounds", bounds, 2, 2) < 0 || check_rows("expansions", expansions, 3, 2) < 0
            || check_rows("headers", headers, 2, 2) < 0) {
        return NULL;
    }
    RawTokens raw = {NULL, 0, 0}, merged = {NULL, 0, 0};
    Int64s starts = {NULL, 0, 0}, ends = {NULL, 0, 0};
    PyObject *forms_out = PyList_New(0), *cuts = PyList_New(0);
    PyObject *sentence = NULL, *result = NULL;
    Py_ssize_t total = 0, n_exp = PyList_GET_SIZE(expansions), n_head = PyList_GET_SIZE(headers);
    Py_ssize_t text_len = PyUnicode_GET_LENGTH(text);
    if (forms_out == NULL || cuts == NULL) {
        goto fail;
    }
    for (Py_ssize_t si = 0; si < PyList_GET_SIZE(bounds); si++) {
        PyObject *b = PyList_GET_ITEM(bounds, si);
        Py_ssize_t s0 = PyLong_AsSsize_t(PyTuple_GET_ITEM(b, 0)), s1 = PyLong_AsSsize_t(PyTuple_GET_ITEM(b, 1));
        if ((s0 == -1 || s1 == -1) && PyErr_Occurred()) {
            goto fail;
        }
        Py_ssize_t lo_b = s0 < 0 ? 0 : (s0 > text_len ? text_len : s0), hi_b = s1 > text_len ? text_len : s1;
        raw_clear(&raw);
        if (hi_b > lo_b && raw_scan(&raw, text, lo_b, hi_b, NULL) < 0) {
            goto fail;
        }
        RawTokens *toks = &raw;
        Py_ssize_t lo = bisect_first(expansions, 0, n_exp, s0), hi = bisect_first(expansions, lo, n_exp, s1);
        if (hi > lo) {  /* the abbreviations read as what they stand for */
            raw_clear(&merged);
            Py_ssize_t i = 0;
            for (Py_ssize_t x = lo; x < hi; x++) {
                PyObject *e = PyList_GET_ITEM(expansions, x);
                Py_ssize_t at[2] = {PyLong_AsSsize_t(PyTuple_GET_ITEM(e, 0)), PyLong_AsSsize_t(PyTuple_GET_ITEM(e, 1))};
                PyObject *exp = PyTuple_GET_ITEM(e, 2);
                for (; i < raw.len && raw.items[i].start < at[0]; i++) {
                    Py_INCREF(raw.items[i].word);
                    if (raw_push(&merged, raw.items[i].word, raw.items[i].start, raw.items[i].end) < 0) {
                        goto fail;
                    }
                }
                if (raw_scan(&merged, exp, 0, PyUnicode_GET_LENGTH(exp), at) < 0) {
                    goto fail;
                }
                while (i < raw.len && raw.items[i].start < at[1]) {
                    i++;
                }
            }
            for (; i < raw.len; i++) {
                Py_INCREF(raw.items[i].word);
                if (raw_push(&merged, raw.items[i].word, raw.items[i].start, raw.items[i].end) < 0) {
                    goto fail;
                }
            }
            toks = &merged;
        }
        /* the section headers this sentence may hold (the last 8 starting before its end) */
        Py_ssize_t h_hi = bisect_first(headers, 0, n_head, s1), h_lo = h_hi > 8 ? h_hi - 8 : 0;
        Py_ssize_t inside[8][2];
        int n_inside = 0;
        for (Py_ssize_t h = h_lo; h < h_hi; h++) {
            PyObject *hr = PyList_GET_ITEM(headers, h);
            Py_ssize_t a = PyLong_AsSsize_t(PyTuple_GET_ITEM(hr, 0)), z = PyLong_AsSsize_t(PyTuple_GET_ITEM(hr, 1));
            if (z > s0) {
                inside[n_inside][0] = a;
                inside[n_inside][1] = z;
                n_inside++;
            }
        }
        int contextual = 0;
        for (Py_ssize_t i = 0; i < toks->len && !contextual; i++) {
            contextual = PySet_Contains(context, toks->items[i].word);
            if (contextual < 0) {
                goto fail;
            }
        }
        sentence = PyList_New(0);
        if (sentence == NULL) {
            goto fail;
        }
        Py_ssize_t kept = 0;
        if (contextual) {  /* a word's form depends on its neighbours: the Python normalizer reads it */
            PyObject *list = PyList_New(toks->len);
            if (list == NULL) {
                goto fail;
            }
            for (Py_ssize_t i = 0; i < toks->len; i++) {
                PyObject *t = Py_BuildValue("(Onn)", toks->items[i].word, toks->items[i].start, toks->items[i].end);
                if (t == NULL) {
                    Py_DECREF(list);
                    goto fail;
                }
                PyList_SET_ITEM(list, i, t);
            }
            PyObject *normal = PyObject_CallOneArg(fallback, list);
            Py_DECREF(list);
            if (normal == NULL) {
                goto fail;
            }
            PyObject *seq = PySequence_Fast(normal, "concept_tokens(): fallback() must return a list");
            Py_DECREF(normal);
            if (seq == NULL) {
                goto fail;
            }
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
                PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
                Py_ssize_t s, e;
                PyObject *form;
                if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "Onn", &form, &s, &e)) {
                    if (!PyErr_Occurred()) {
                        PyErr_SetString(PyExc_TypeError, "concept_tokens(): fallback() must give (form, start, end)");
                    }
                    Py_DECREF(seq);
                    goto fail;
                }
                int skip = 0;
                for (int h = 0; h < n_inside; h++) {
                    skip |= inside[h][0] <= s && s < inside[h][1];
                }
                if (skip) {
                    continue;
                }
                if (PyList_Append(sentence, form) < 0 || int64_push(&starts, s) < 0 || int64_push(&ends, e) < 0) {
                    Py_DECREF(seq);
                    goto fail;
                }
                kept++;
            }
            Py_DECREF(seq);
        }
        else {
            for (Py_ssize_t i = 0; i < toks->len; i++) {
                Py_ssize_t s = toks->items[i].start, e = toks->items[i].end;
                int skip = 0;
                for (int h = 0; h < n_inside; h++) {
                    skip |= inside[h][0] <= s && s < inside[h][1];
                }
                if (skip) {
                    continue;
                }
                PyObject *forms;
                if (PyDict_Check(canon)) {  /* a memo: its entry, else its __missing__ (via [word]) */
                    forms = PyDict_GetItemWithError(canon, toks->items[i].word);
                    if (forms != NULL) {
                        Py_INCREF(forms);
                    }
                    else if (PyErr_Occurred()) {
                        goto fail;
                    }
                    else {
                        forms = PyObject_GetItem(canon, toks->items[i].word);
                    }
                }
                else {
                    forms = PyObject_CallOneArg(canon, toks->items[i].word);
                }
                if (forms == NULL) {
                    goto fail;
                }
                if (!PyTuple_Check(forms)) {
                    Py_DECREF(forms);
                    PyErr_SetString(PyExc_TypeError, "concept_tokens(): canon() must return a tuple");
                    goto fail;
                }
                for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(forms); j++) {
                    if (PyList_Append(sentence, PyTuple_GET_ITEM(forms, j)) < 0 || int64_push(&starts, s) < 0
                            || int64_push(&ends, e) < 0) {
                        Py_DECREF(forms);
                        goto fail;
                    }
                    kept++;
                }
                Py_DECREF(forms);
            }
        }
        if (kept) {
            total += kept;
            PyObject *cut = PyLong_FromSsize_t(total);
            if (cut == NULL || PyList_Append(cuts, cut) < 0 || PyList_Append(forms_out, sentence) < 0) {
                Py_XDECREF(cut);
                goto fail;
            }
            Py_DECREF(cut);
        }
        Py_CLEAR(sentence);
    }
    result = Py_BuildValue("(Oy#y#O)", forms_out, starts.items ? (const char *)starts.items : "", starts.len * 8,
                           ends.items ? (const char *)ends.items : "", ends.len * 8, cuts);  /* NULL: None */
fail:
    raw_clear(&raw);
    raw_clear(&merged);
    PyMem_Free(raw.items);
    PyMem_Free(merged.items);
    Py_XDECREF(sentence);
    Py_XDECREF(forms_out);
    PyMem_Free(starts.items);
    PyMem_Free(ends.items);
    Py_XDECREF(cuts);
    return result;
}

/* ---- resolve: TermMatcher._resolve in C ---- */

typedef struct {
    Py_ssize_t *pos;    /* the term's token positions, sorted */
    Py_ssize_t npos;
    PyObject *tids;     /* list of the term ids matched there */
    Py_ssize_t min_tid;
    Py_ssize_t *cover;  /* positions plus the optional words' hits, sorted, unique */
    Py_ssize_t ncover;
    Py_ssize_t hits;    /* optional words found around it */
    int alive;
} RMatch;

/* One sentence's tokens: each distinct token's first position (``first``: {token: int}), the next
 * position of the same token (``next``, -1 at the last) and how often it occurs (``count``, at the first). */
typedef struct {
    PyObject *first;
    Py_ssize_t *next, *count;
    char *without;  /* 1 at the positions under a "without" */
    int64_t *segment;  /* each position's list item (NULL: none given) */
    Py_ssize_t n;
} Sentence;

static PyObject *str_required, *str_optional;  /* interned attribute names */

/* The first position of ``token`` in the sentence, -1 when absent, -2 on error. */
static Py_ssize_t
first_at(const Sentence *s, PyObject *token)
{
    PyObject *at = PyDict_GetItemWithError(s->first, token);
    if (at == NULL) {
        return PyErr_Occurred() ? -2 : -1;
    }
    return PyLong_AsSsize_t(at);
}

static int
by_position(const void *a, const void *b)
{
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

/* ``terms[tid].<name>`` (a new reference to a tuple of str), NULL with an error set. */
static PyObject *
term_words(PyObject *terms, Py_ssize_t tid, PyObject *name)
{
    PyObject *term = PySequence_GetItem(terms, tid);
    PyObject *words = term == NULL ? NULL : PyObject_GetAttr(term, name);
    Py_XDECREF(term);
    if (words != NULL && !PyTuple_Check(words)) {
        PyErr_Format(PyExc_TypeError, "resolve(): a term's %U words must be a tuple", name);
        Py_CLEAR(words);
    }
    return words;
}

/* TermMatcher._window: the positions of ``required`` (a tuple of str) in the tightest window around an
 * occurrence of its rarest token, written sorted to ``out``; returns how many (0: no window within
 * ``len + slack``), -1 on error. */
static Py_ssize_t
window(const Sentence *s, PyObject *required, Py_ssize_t slack, Py_ssize_t *out, Py_ssize_t *firsts)
{
    Py_ssize_t k = PyTuple_GET_SIZE(required);
    if (k == 0) {
        return 0;
    }
    Py_ssize_t pivot = -1;
    for (Py_ssize_t j = 0; j < k; j++) {
        firsts[j] = first_at(s, PyTuple_GET_ITEM(required, j));
        if (firsts[j] == -2) {
            return -1;
        }
        if (firsts[j] < 0) {
            return 0;  /* a required token not in the sentence (the screen rules that out) */
        }
        if (pivot < 0 || s->count[firsts[j]] < s->count[firsts[pivot]]) {
            pivot = j;
        }
    }
    if (k == 1) {
        out[0] = firsts[0];
        return 1;
    }
    Py_ssize_t limit = k + slack, best_span = limit + 1, found = 0;
    Py_ssize_t *chosen = out + k;  /* scratch after the answer */
    Py_ssize_t fp = firsts[pivot];
    for (Py_ssize_t p = fp; p >= 0; p = s->next[p]) {
        Py_ssize_t c = 0;
        chosen[c++] = p;
        for (Py_ssize_t j = 0; j < k; j++) {
            Py_ssize_t f = firsts[j];
            if (f == fp) {
                continue;  /* the pivot's token (any copy of it in ``required``) */
            }
            Py_ssize_t q = f;
            if (s->count[f] > 1) {
                Py_ssize_t best_d = -1;
                int best_other = 1;
                for (Py_ssize_t x = f; x >= 0; x = s->next[x]) {
                    Py_ssize_t d = x > p ? x - p : p - x;
                    int other = s->segment != NULL && s->segment[x] != s->segment[p];
                    if (best_d < 0 || other < best_other || (other == best_other && d < best_d)) {
                        q = x;
                        best_d = d;
                        best_other = other;
                    }
                }
            }
            chosen[c++] = q;
        }
        Py_ssize_t lo = chosen[0], hi = chosen[0];
        int distinct = 1;
        for (Py_ssize_t a = 0; a < c; a++) {
            lo = chosen[a] < lo ? chosen[a] : lo;
            hi = chosen[a] > hi ? chosen[a] : hi;
            for (Py_ssize_t b = a + 1; b < c && distinct; b++) {
                distinct = chosen[a] != chosen[b];
            }
        }
        Py_ssize_t span = hi - lo + 1;
        if (span < best_span && distinct) {
            memcpy(out, chosen, (size_t)c * sizeof(Py_ssize_t));
            qsort(out, (size_t)c, sizeof(Py_ssize_t), by_position);
            best_span = span;
            found = c;
        }
    }
    return found && best_span <= limit ? found : 0;
}

/* TermMatcher._agrees_on_without (1: agrees, 0: not, -1: error). */
static int
agrees_on_without(const Sentence *s, PyObject *tid, PyObject *required, PyObject *denied_cache,
                  PyObject *denied_of, int any_without)
{
    PyObject *denied = PyDict_GetItemWithError(denied_cache, tid);  /* borrowed */
    int owned = 0;
    if (denied == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        denied = PyObject_CallOneArg(denied_of, tid);
        if (denied == NULL) {
            return -1;
        }
        owned = 1;
    }
    int rc = 1;
    if (!PyAnySet_Check(denied)) {
        PyErr_SetString(PyExc_TypeError, "resolve(): the denied words must be a frozenset");
        rc = -1;
        goto done;
    }
    if (PySet_GET_SIZE(denied) > 0) {  /* the term says "without X": the sentence must not name X freely */
        PyObject *it = PyObject_GetIter(denied), *w;
        int all_free = it != NULL;
        while (it != NULL && all_free && (w = PyIter_Next(it)) != NULL) {
            Py_ssize_t f = first_at(s, w);
            Py_DECREF(w);
            if (f == -2) {
                rc = -1;
                break;
            }
            int free_one = 0;
            for (Py_ssize_t p = f; p >= 0 && !free_one; p = s->next[p]) {
                free_one = !s->without[p];
            }
            all_free = free_one;
        }
        Py_XDECREF(it);
        if (it == NULL || PyErr_Occurred()) {
            rc = -1;
            goto done;
        }
        if (all_free) {
            rc = 0;
            goto done;
        }
    }
    if (any_without) {  /* a word the term needs only under the sentence's "without" */
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(required); j++) {
            PyObject *w = PyTuple_GET_ITEM(required, j);
            int in_denied = PySet_Contains(denied, w);
            if (in_denied < 0) {
                rc = -1;
                goto done;
            }
            if (in_denied) {
                continue;
            }
            Py_ssize_t f = first_at(s, w);
            if (f == -2) {
                rc = -1;
                goto done;
            }
            if (f < 0) {
                continue;
            }
            int all_under = 1;
            for (Py_ssize_t p = f; p >= 0 && all_under; p = s->next[p]) {
                all_under = s->without[p];
            }
            if (all_under) {
                rc = 0;
                goto done;
            }
        }
    }
done:
    if (owned) {
        Py_DECREF(denied);
    }
    return rc;
}

/* Whether sorted unique ``a`` is a subset of sorted unique ``b``. */
static int
subset(const Py_ssize_t *a, Py_ssize_t na, const Py_ssize_t *b, Py_ssize_t nb)
{
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < na; i++) {
        while (j < nb && b[j] < a[i]) {
            j++;
        }
        if (j == nb || b[j] != a[i]) {
            return 0;
        }
    }
    return 1;
}

static int
intersects(const Py_ssize_t *a, Py_ssize_t na, const Py_ssize_t *b, Py_ssize_t nb)
{
    Py_ssize_t i = 0, j = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            return 1;
        }
        if (a[i] < b[j]) {
            i++;
        }
        else {
            j++;
        }
    }
    return 0;
}

/* _scattered: other words between the match's own (its positions and optional hits, ``cover``). */
static int
scattered(const RMatch *m)
{
    Py_ssize_t first = m->pos[0], last = m->pos[m->npos - 1], inside = 0;
    for (Py_ssize_t i = 0; i < m->ncover; i++) {
        inside += m->cover[i] >= first && m->cover[i] <= last;
    }
    return last - first + 1 > inside;
}

static int
by_rank_key(const void *x, const void *y)
{
    const RMatch *a = *(RMatch *const *)x, *b = *(RMatch *const *)y;
    if (a->ncover != b->ncover) {
        return a->ncover > b->ncover ? -1 : 1;
    }
    Py_ssize_t n = a->npos < b->npos ? a->npos : b->npos;
    for (Py_ssize_t i = 0; i < n; i++) {  /* first, then the positions as tuples compare */
        if (a->pos[i] != b->pos[i]) {
            return a->pos[i] < b->pos[i] ? -1 : 1;
        }
    }
    if (a->npos != b->npos) {
        return a->npos < b->npos ? -1 : 1;
    }
    return (a->min_tid > b->min_tid) - (a->min_tid < b->min_tid);
}

static void
free_matches(RMatch *ms, Py_ssize_t nm)
{
    for (Py_ssize_t i = 0; i < nm; i++) {
        PyMem_Free(ms[i].pos);
        PyMem_Free(ms[i].cover);
        Py_XDECREF(ms[i].tids);
    }
    PyMem_Free(ms);
}

/* TermMatcher._resolve (twin: the Python method): window the terms ``tids`` in one sentence's ``tokens``
 * and keep the longest, most specific matches, as [(positions, term ids, optional hits, extent or None)]. */
static PyObject *
resolve(PyObject *self, PyObject *args)
{
    PyObject *tids, *tokens, *segments, *without, *terms, *denied_cache, *denied_of;
    Py_ssize_t slack;
    long long hard_break;
    if (!PyArg_ParseTuple(args, "O!O!OOOO!OnL:resolve", &PyList_Type, &tids, &PyList_Type, &tokens, &segments,
                          &without, &terms, &PyDict_Type, &denied_cache, &denied_of, &slack, &hard_break)) {
        return NULL;
    }
    if (str_required == NULL && (str_required = PyUnicode_InternFromString("required")) == NULL) {
        return NULL;
    }
    if (str_optional == NULL && (str_optional = PyUnicode_InternFromString("optional")) == NULL) {
        return NULL;
    }
    if (hard_break <= 0) {
        PyErr_SetString(PyExc_ValueError, "resolve(): hard_break must be positive");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(tokens), nt = PyList_GET_SIZE(tids);
    if (segments != Py_None && (!PyList_Check(segments) || PyList_GET_SIZE(segments) != n)) {
        PyErr_SetString(PyExc_TypeError, "resolve(): segments must be None or a list as long as the tokens");
        return NULL;
    }
    if (without != Py_None && !PyAnySet_Check(without)) {
        PyErr_SetString(PyExc_TypeError, "resolve(): without must be None or a set of positions");
        return NULL;
    }
    Sentence s = {PyDict_New(), PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t)),
                  PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t)), PyMem_Calloc((size_t)n + 1, 1), NULL, n};
    Py_ssize_t *last = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
    char *mark = PyMem_Calloc((size_t)n + 1, 1);
    Py_ssize_t *scratch = NULL, scratch_len = 0;
    RMatch *ms = NULL, **order = NULL;
    Py_ssize_t nm = 0, cap = 0;
    PyObject *out = NULL;
    int any_without = 0;
    if (s.first == NULL || s.next == NULL || s.count == NULL || s.without == NULL || last == NULL || mark == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {  /* the positions of each token */
        PyObject *tok = PyList_GET_ITEM(tokens, i);
        s.next[i] = -1;
        PyObject *at = PyDict_GetItemWithError(s.first, tok);
        if (at == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            PyObject *here = PyLong_FromSsize_t(i);
            int rc = here == NULL ? -1 : PyDict_SetItem(s.first, tok, here);
            Py_XDECREF(here);
            if (rc < 0) {
                goto done;
            }
            s.count[i] = 1;
            last[i] = i;
        }
        else {
            Py_ssize_t f = PyLong_AsSsize_t(at);
            s.next[last[f]] = i;
            last[f] = i;
            s.count[f]++;
        }
    }
    if (segments != Py_None) {
        s.segment = PyMem_Calloc((size_t)n + 1, sizeof(int64_t));
        if (s.segment == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            s.segment[i] = PyLong_AsLongLong(PyList_GET_ITEM(segments, i));
            if (s.segment[i] == -1 && PyErr_Occurred()) {
                goto done;
            }
        }
    }
    if (without != Py_None && PySet_GET_SIZE(without) > 0) {
        PyObject *it = PyObject_GetIter(without), *p;
        if (it == NULL) {
            goto done;
        }
        while ((p = PyIter_Next(it)) != NULL) {
            Py_ssize_t k = PyLong_AsSsize_t(p);
            Py_DECREF(p);
            if (k == -1 && PyErr_Occurred()) {
                break;
            }
            if (k >= 0 && k < n) {
                s.without[k] = 1;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            goto done;
        }
        any_without = 1;  /* as the twin: a non-empty set, whatever its positions */
    }
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *tid = PyList_GET_ITEM(tids, t);
        Py_ssize_t tid_v = PyLong_AsSsize_t(tid);
        if (tid_v == -1 && PyErr_Occurred()) {
            goto done;
        }
        PyObject *required = term_words(terms, tid_v, str_required);
        if (required == NULL) {
            goto done;
        }
        int ok = agrees_on_without(&s, tid, required, denied_cache, denied_of, any_without);
        Py_ssize_t k = PyTuple_GET_SIZE(required), got = 0;
        if (ok > 0) {
            if (scratch_len < 3 * k + 1) {
                PyMem_Free(scratch);
                scratch_len = 3 * k + 1;
                scratch = PyMem_Malloc((size_t)scratch_len * sizeof(Py_ssize_t));
                if (scratch == NULL) {
                    Py_DECREF(required);
                    PyErr_NoMemory();
                    goto done;
                }
            }
            got = window(&s, required, slack, scratch, scratch + 2 * k);
        }
        Py_DECREF(required);
        if (ok < 0 || got < 0) {
            goto done;
        }
        if (got == 0) {
            continue;
        }
        Py_ssize_t m = 0;
        while (m < nm && !(ms[m].npos == got && memcmp(ms[m].pos, scratch, (size_t)got * sizeof(Py_ssize_t)) == 0)) {
            m++;
        }
        if (m == nm) {  /* new positions: a new match */
            if (grow((void **)&ms, nm, &cap, sizeof(RMatch), 8) < 0) {
                goto done;
            }
            RMatch *r = &ms[nm];
            *r = (RMatch){PyMem_Malloc((size_t)got * sizeof(Py_ssize_t)), got, PyList_New(0), tid_v, NULL, 0, 0, 1};
            nm++;
            if (r->pos == NULL || r->tids == NULL) {
                if (r->pos == NULL) {
                    PyErr_NoMemory();
                }
                goto done;
            }
            memcpy(r->pos, scratch, (size_t)got * sizeof(Py_ssize_t));
        }
        if (PyList_Append(ms[m].tids, tid) < 0) {
            goto done;
        }
        if (tid_v < ms[m].min_tid) {
            ms[m].min_tid = tid_v;
        }
    }
    if (s.segment != NULL && nm > 1) {  /* _drop_list_bridges */
        int all_inside = 1;
        for (Py_ssize_t m = 0; m < nm; m++) {
            all_inside &= s.segment[ms[m].pos[0]] == s.segment[ms[m].pos[ms[m].npos - 1]];
        }
        if (!all_inside) {
            memset(mark, 0, (size_t)n);
            for (Py_ssize_t m = 0; m < nm; m++) {
                if (s.segment[ms[m].pos[0]] == s.segment[ms[m].pos[ms[m].npos - 1]]) {
                    for (Py_ssize_t i = 0; i < ms[m].npos; i++) {
                        mark[ms[m].pos[i]] = 1;
                    }
                }
            }
            for (Py_ssize_t m = 0; m < nm; m++) {
                int64_t a = s.segment[ms[m].pos[0]], b = s.segment[ms[m].pos[ms[m].npos - 1]];
                if (a / hard_break != b / hard_break) {
                    ms[m].alive = 0;
                }
                else if (a != b) {
                    int covered = 1;
                    for (Py_ssize_t i = 0; i < ms[m].npos && covered; i++) {
                        covered = mark[ms[m].pos[i]];
                    }
                    ms[m].alive = !covered;
                }
            }
            memset(mark, 0, (size_t)n);
        }
    }
    Py_ssize_t alive = 0;
    for (Py_ssize_t m = 0; m < nm; m++) {  /* the optional words of its terms around each match */
        RMatch *r = &ms[m];
        if (!r->alive) {
            continue;
        }
        alive++;
        Py_ssize_t lo = r->pos[0] - 2, hi = r->pos[r->npos - 1] + 2;
        for (Py_ssize_t i = 0; i < r->npos; i++) {
            mark[r->pos[i]] |= 1;
        }
        Py_ssize_t hits = 0;
        for (Py_ssize_t t = 0; t < PyList_GET_SIZE(r->tids); t++) {
            PyObject *optional = term_words(terms, PyLong_AsSsize_t(PyList_GET_ITEM(r->tids, t)), str_optional);
            if (optional == NULL) {
                goto done;
            }
            for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(optional); j++) {
                Py_ssize_t f = first_at(&s, PyTuple_GET_ITEM(optional, j));
                if (f == -2) {
                    Py_DECREF(optional);
                    goto done;
                }
                for (Py_ssize_t p = f; p >= 0; p = s.next[p]) {
                    if (p >= lo && p <= hi && !(mark[p] & 2)) {
                        mark[p] |= 2;
                        hits++;
                    }
                }
            }
            Py_DECREF(optional);
        }
        r->hits = hits;
        Py_ssize_t from = lo < 0 ? 0 : lo, to = hi >= n ? n - 1 : hi, c = 0;
        r->cover = PyMem_Malloc((size_t)(to - from + 1 > 0 ? to - from + 1 : 1) * sizeof(Py_ssize_t));
        if (r->cover == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t p = from; p <= to; p++) {
            if (mark[p]) {
                r->cover[c++] = p;
                mark[p] = 0;
            }
        }
        r->ncover = c;
    }
    order = PyMem_Malloc((size_t)(alive ? alive : 1) * sizeof(RMatch *));
    if (order == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t no = 0;
    for (Py_ssize_t m = 0; m < nm; m++) {
        if (ms[m].alive) {
            order[no++] = &ms[m];
        }
    }
    if (no >= 2) {  /* the longest, most specific matches win */
        qsort(order, (size_t)no, sizeof(RMatch *), by_rank_key);
        Py_ssize_t nk = 0;
        for (Py_ssize_t i = 0; i < no; i++) {
            RMatch *m = order[i];
            int drop = 0;
            for (Py_ssize_t j = 0; j < nk && !drop; j++) {
                RMatch *k = order[j];
                drop = subset(m->pos, m->npos, k->cover, k->ncover) && (m->npos < k->ncover || m->npos < k->npos);
            }
            if (!drop && scattered(m)) {
                for (Py_ssize_t j = 0; j < nk && !drop; j++) {
                    RMatch *k = order[j];
                    drop = intersects(m->pos, m->npos, k->pos, k->npos) && !scattered(k)
                        && !subset(k->pos, k->npos, m->pos, m->npos);
                }
            }
            if (!drop) {
                order[nk++] = m;
            }
        }
        for (Py_ssize_t i = 1; i < nk; i++) {  /* by first position, stable */
            RMatch *m = order[i];
            Py_ssize_t j = i;
            while (j > 0 && order[j - 1]->pos[0] > m->pos[0]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = m;
        }
        no = nk;
    }
    out = PyList_New(no);
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < no; i++) {
        RMatch *m = order[i];
        PyObject *pos = PyTuple_New(m->npos), *extent;
        if (pos == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        for (Py_ssize_t j = 0; j < m->npos; j++) {
            PyObject *v = PyLong_FromSsize_t(m->pos[j]);
            if (v == NULL) {
                Py_DECREF(pos);
                Py_CLEAR(out);
                goto done;
            }
            PyTuple_SET_ITEM(pos, j, v);
        }
        if (m->hits) {
            extent = Py_BuildValue("(nn)", m->cover[0], m->cover[m->ncover - 1]);
        }
        else {
            extent = Py_NewRef(Py_None);
        }
        PyObject *item = extent == NULL ? NULL : Py_BuildValue("(NOnN)", pos, m->tids, m->hits, extent);
        if (item == NULL) {
            if (extent == NULL) {
                Py_DECREF(pos);
            }
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, item);
    }
done:
    Py_XDECREF(s.first);
    PyMem_Free(s.next);
    PyMem_Free(s.count);
    PyMem_Free(s.without);
    PyMem_Free(s.segment);
    PyMem_Free(last);
    PyMem_Free(mark);
    PyMem_Free(scratch);
    PyMem_Free(order);
    free_matches(ms, nm);
    return out;
}

/* ---- phrase_find: the procedure coder's phrase trie walk (_PhraseIndex.find) ---- */

typedef struct {
    PyObject *kind, *payload;  /* borrowed (alive in the trie) */
    Py_ssize_t i, j;
} PhraseHit;

typedef struct {
    PhraseHit *items;
    Py_ssize_t len, cap;
} PhraseHits;

static int
hit_push(PhraseHits *h, PyObject *kind, PyObject *payload, Py_ssize_t i, Py_ssize_t j)
{
    if (grow((void **)&h->items, h->len, &h->cap, sizeof(PhraseHit), 64) < 0) {
        return -1;
    }
    h->items[h->len++] = (PhraseHit){kind, payload, i, j};
    return 0;
}

static int phrase_sort_failed;

/* (kind, i, -(j - i)), as _PhraseIndex.find sorts. */
static int
by_kind_start_length(const void *x, const void *y)
{
    const PhraseHit *a = x, *b = y;
    if (a->kind != b->kind) {
        int c = PyUnicode_Compare(a->kind, b->kind);
        if (c == -1 && PyErr_Occurred()) {
            phrase_sort_failed = 1;
            return 0;
        }
        if (c) {
            return c;
        }
    }
    if (a->i != b->i) {
        return a->i < b->i ? -1 : 1;
    }
    Py_ssize_t la = a->j - a->i, lb = b->j - b->i;
    return (la < lb) - (la > lb);
}

/* _PhraseIndex.find (its twin): the longest phrase of each kind starting at each word of ``words`` in the
 * word trie ``root`` (nested dicts; ``end_key`` holds {kind: payload} where a phrase ends), sorted by
 * (kind, start, longest first), less those inside a longer one of the same kind, each as
 * ``cls((kind, payload, i, j))`` (``cls``: a tuple subclass). */
static PyObject *
phrase_find(PyObject *self, PyObject *args)
{
    PyObject *root, *words, *end_key, *cls;
    if (!PyArg_ParseTuple(args, "O!O!UO!:phrase_find", &PyDict_Type, &root, &PyList_Type, &words, &end_key,
                          &PyType_Type, &cls)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "phrase_find(): cls must be a tuple subclass");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(words);
    PhraseHits found = {NULL, 0, 0};
    PyObject *out = NULL;
    PhraseHits longest = {NULL, 0, 0};  /* at one start: the longest phrase of each kind, first-seen order */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *node = PyDict_GetItemWithError(root, PyList_GET_ITEM(words, i));
        if (node == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            continue;
        }
        longest.len = 0;
        Py_ssize_t j = i + 1;
        while (1) {
            if (!PyDict_Check(node)) {
                PyErr_SetString(PyExc_TypeError, "phrase_find(): trie nodes must be dicts");
                goto done;
            }
            PyObject *ends = PyDict_GetItemWithError(node, end_key);
            if (ends == NULL && PyErr_Occurred()) {
                goto done;
            }
            if (ends != NULL) {
                if (!PyDict_Check(ends)) {
                    PyErr_SetString(PyExc_TypeError, "phrase_find(): phrase ends must be dicts");
                    goto done;
                }
                Py_ssize_t pos = 0;
                PyObject *kind, *payload;
                while (PyDict_Next(ends, &pos, &kind, &payload)) {
                    Py_ssize_t k = 0;
                    while (k < longest.len && longest.items[k].kind != kind
                           && PyObject_RichCompareBool(longest.items[k].kind, kind, Py_EQ) != 1) {
                        k++;
                    }
                    if (PyErr_Occurred()) {
                        goto done;
                    }
                    if (k == longest.len) {
                        if (hit_push(&longest, kind, payload, i, j) < 0) {
                            goto done;
                        }
                    }
                    longest.items[k].payload = payload;
                    longest.items[k].j = j;
                }
            }
            if (j >= n) {
                break;
            }
            node = PyDict_GetItemWithError(node, PyList_GET_ITEM(words, j));
            if (node == NULL) {
                if (PyErr_Occurred()) {
                    goto done;
                }
                break;
            }
            j++;
        }
        for (Py_ssize_t k = 0; k < longest.len; k++) {
            if (hit_push(&found, longest.items[k].kind, longest.items[k].payload, i, longest.items[k].j) < 0) {
                goto done;
            }
        }
    }
    phrase_sort_failed = 0;
    if (found.len > 1) {
        qsort(found.items, (size_t)found.len, sizeof(PhraseHit), by_kind_start_length);
    }
    if (phrase_sort_failed) {
        goto done;
    }
    out = PyList_New(0);
    if (out == NULL) {
        goto done;
    }
    PhraseHit *last = NULL;
    for (Py_ssize_t h = 0; h < found.len; h++) {
        PhraseHit *m = &found.items[h];
        if (last != NULL && (last->kind == m->kind || PyUnicode_Compare(last->kind, m->kind) == 0)
                && last->i <= m->i && m->j <= last->j) {
            continue;  /* inside a longer phrase of the same kind */
        }
        last = m;
        PyObject *item = Py_BuildValue("((OOnn))", m->kind, m->payload, m->i, m->j);
        PyObject *match = item == NULL ? NULL : PyTuple_Type.tp_new((PyTypeObject *)cls, item, NULL);
        Py_XDECREF(item);
        if (append_new(out, match) < 0) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    PyMem_Free(found.items);
    PyMem_Free(longest.items);
    return out;
}

/* The int64 bytes of [index.get(w, missing) for w in words]: each word's id, missing when not in the dict
 * (a note's words looked up without a Python call per word). */
static PyObject *
word_ids(PyObject *self, PyObject *args)
{
    PyObject *words, *index;
    long long missing;
    if (!PyArg_ParseTuple(args, "OO!L:word_ids", &words, &PyDict_Type, &index, &missing)) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(words, "word_ids() needs a sequence of words");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    int64_t *ids = (int64_t *)PyBytes_AS_STRING(out);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyDict_GetItemWithError(index, items[i]);
        if (value == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            ids[i] = (int64_t)missing;
            continue;
        }
        long long v = PyLong_AsLongLong(value);
        if (v == -1 && PyErr_Occurred()) {
            goto fail;
        }
        ids[i] = (int64_t)v;
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_DECREF(out);
    Py_DECREF(seq);
    return NULL;
}

/* The needles (a tuple of str) that occur in ``text``, as a set: {k for k in needles if k in text} in one pass
 * over the text (the needles are bucketed by their first two characters), not one pass per needle. */
#define FOUND_BUCKETS 1024
static PyObject *
found_in(PyObject *self, PyObject *args)
{
    PyObject *text, *needles;
    if (!PyArg_ParseTuple(args, "UO!:found_in", &text, &PyTuple_Type, &needles)) {
        return NULL;
    }
    Py_ssize_t nn = PyTuple_GET_SIZE(needles), n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t j = 0; j < nn; j++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(needles, j))) {
            PyErr_SetString(PyExc_TypeError, "found_in() needs a tuple of str needles");
            return NULL;
        }
    }
    PyObject *out = PySet_New(NULL);
    Py_ssize_t *next = PyMem_Malloc((nn ? nn : 1) * sizeof(Py_ssize_t));
    char *done = PyMem_Calloc(nn ? nn : 1, 1);
    if (out == NULL || next == NULL || done == NULL) {
        goto fail;
    }
    Py_ssize_t heads[FOUND_BUCKETS], single[256], waiting = 0;
    for (int b = 0; b < FOUND_BUCKETS; b++) {
        heads[b] = -1;
    }
    for (int b = 0; b < 256; b++) {
        single[b] = -1;
    }
    for (Py_ssize_t j = nn - 1; j >= 0; j--) {  /* chains in needle order */
        PyObject *k = PyTuple_GET_ITEM(needles, j);
        Py_ssize_t len = PyUnicode_GET_LENGTH(k);
        if (len == 0) {  /* "" is in every text */
            done[j] = 1;
            if (PySet_Add(out, k) < 0) {
                goto fail;
            }
            continue;
        }
        if (len > n) {
            done[j] = 1;
            continue;
        }
        int kind = PyUnicode_KIND(k);
        const void *data = PyUnicode_DATA(k);
        Py_UCS4 c0 = PyUnicode_READ(kind, data, 0);
        if (len == 1) {
            next[j] = single[c0 & 255];
            single[c0 & 255] = j;
        }
        else {
            Py_ssize_t b = (c0 * 31 + PyUnicode_READ(kind, data, 1)) & (FOUND_BUCKETS - 1);
            next[j] = heads[b];
            heads[b] = j;
        }
        waiting++;
    }
    int tkind = PyUnicode_KIND(text);
    const void *tdata = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n && waiting > 0; i++) {
        Py_UCS4 c0 = PyUnicode_READ(tkind, tdata, i);
        for (Py_ssize_t j = single[c0 & 255]; j >= 0; j = next[j]) {
            PyObject *k = PyTuple_GET_ITEM(needles, j);
            if (!done[j] && PyUnicode_READ_CHAR(k, 0) == c0) {
                done[j] = 1;
                waiting--;
                if (PySet_Add(out, k) < 0) {
                    goto fail;
                }
            }
        }
        if (i + 1 >= n) {
            break;
        }
        Py_ssize_t b = (c0 * 31 + PyUnicode_READ(tkind, tdata, i + 1)) & (FOUND_BUCKETS - 1);
        for (Py_ssize_t j = heads[b]; j >= 0; j = next[j]) {
            if (done[j]) {
                continue;
            }
            PyObject *k = PyTuple_GET_ITEM(needles, j);
            Py_ssize_t len = PyUnicode_GET_LENGTH(k);
            if (len > n - i) {
                continue;
            }
            int kind = PyUnicode_KIND(k);
            const void *data = PyUnicode_DATA(k);
            Py_ssize_t q = 0;
            while (q < len && PyUnicode_READ(kind, data, q) == PyUnicode_READ(tkind, tdata, i + q)) {
                q++;
            }
            if (q == len) {
                done[j] = 1;
                waiting--;
                if (PySet_Add(out, k) < 0) {
                    goto fail;
                }
            }
        }
    }
    PyMem_Free(next);
    PyMem_Free(done);
    return out;
fail:
    Py_XDECREF(out);
    PyMem_Free(next);
    PyMem_Free(done);
    return NULL;
}

/* A tokenizer expression callable (``Pattern.search``, ``.match`` or ``.finditer``) that answers
 * ``no_match`` at once for a non-empty string of ASCII letters only (``skip_letters``) or ASCII digits only
 * (``skip_digits``), and otherwise calls the expression, from after the string's leading run of the
 * characters of the first of ``runs`` (ASCII strings) it starts with.  The twin of
 * cac.pipeline.tokenizer_shortcuts._ShortcutCall; subclassable (PlainTextShortcut is its subclass). */
typedef struct {
    PyObject_HEAD
    PyObject *method;
    PyObject *no_match;
    PyObject *runs;
    char skip_letters;
    char skip_digits;
    Py_ssize_t n_runs;
    unsigned char *run_sets; /* n_runs tables of 128 flags: which ASCII characters each run holds */
} PlainShortcut;

static int
shortcut_traverse(PlainShortcut *self, visitproc visit, void *arg)
{
    Py_VISIT(self->method);
    Py_VISIT(self->no_match);
    Py_VISIT(self->runs);
    return 0;
}

static int
shortcut_clear(PlainShortcut *self)
{
    Py_CLEAR(self->method);
    Py_CLEAR(self->no_match);
    Py_CLEAR(self->runs);
    return 0;
}

static void
shortcut_dealloc(PlainShortcut *self)
{
    PyObject_GC_UnTrack(self);
    shortcut_clear(self);
    PyMem_Free(self->run_sets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
shortcut_init(PlainShortcut *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"method", "no_match", "skip_letters", "skip_digits", "runs", NULL};
    PyObject *method, *no_match, *runs;
    int skip_letters, skip_digits;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOppO!:PlainShortcut", keywords, &method, &no_match,
                                     &skip_letters, &skip_digits, &PyTuple_Type, &runs)) {
        return -1;
    }
    if (!PyCallable_Check(method)) {
        PyErr_SetString(PyExc_TypeError, "PlainShortcut(): method must be callable");
        return -1;
    }
    Py_ssize_t n_runs = PyTuple_GET_SIZE(runs);
    unsigned char *sets = PyMem_Calloc(n_runs ? (size_t)n_runs * 128 : 1, 1);
    if (sets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t r = 0; r < n_runs; r++) {
        PyObject *run = PyTuple_GET_ITEM(runs, r);
        if (!PyUnicode_Check(run) || !PyUnicode_IS_ASCII(run)) {
            PyMem_Free(sets);
            PyErr_SetString(PyExc_TypeError, "PlainShortcut(): runs must be ASCII strings");
            return -1;
        }
        const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(run);
        for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(run); i++) {
            sets[r * 128 + chars[i]] = 1;
        }
    }
    PyMem_Free(self->run_sets);
    self->run_sets = sets;
    self->n_runs = n_runs;
    Py_XSETREF(self->method, Py_NewRef(method));
    Py_XSETREF(self->no_match, Py_NewRef(no_match));
    Py_XSETREF(self->runs, Py_NewRef(runs));
    self->skip_letters = (char)skip_letters;
    self->skip_digits = (char)skip_digits;
    return 0;
}

static PyObject *
shortcut_call(PlainShortcut *self, PyObject *args, PyObject *kwargs)
{
    PyObject *text;
    if (self->method == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "PlainShortcut: not initialized");
        return NULL;
    }
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "PlainShortcut() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "PlainShortcut", 1, 1, &text)) {
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        return PyObject_CallOneArg(self->method, text);
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n > 0 && PyUnicode_IS_ASCII(text) && (self->skip_letters || self->skip_digits)) {
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(text);
        int letters = 1, digits = 1;
        for (Py_ssize_t i = 0; i < n && (letters || digits); i++) {
            letters = letters && IS_LETTER(s[i]);
            digits = digits && IS_DIGIT(s[i]);
        }
        if ((self->skip_letters && letters) || (self->skip_digits && digits)) {
            return Py_NewRef(self->no_match);
        }
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t r = 0; r < self->n_runs; r++) {
        const unsigned char *set = self->run_sets + r * 128;
        Py_ssize_t skip = 0;
        while (skip < n) {
            Py_UCS4 c = PyUnicode_READ(kind, data, skip);
            if (c >= 128 || !set[c]) {
                break;
            }
            skip++;
        }
        if (skip) {
            PyObject *pos = PyLong_FromSsize_t(skip);
            if (pos == NULL) {
                return NULL;
            }
            PyObject *argv[2] = {text, pos};
            PyObject *result = PyObject_Vectorcall(self->method, argv, 2, NULL);
            Py_DECREF(pos);
            return result;
        }
    }
    return PyObject_CallOneArg(self->method, text);
}

static PyMemberDef shortcut_members[] = {
    {"method", T_OBJECT_EX, offsetof(PlainShortcut, method), READONLY, "The expression's own callable."},
    {"no_match", T_OBJECT_EX, offsetof(PlainShortcut, no_match), READONLY, "What it answers when nothing matches."},
    {"runs", T_OBJECT_EX, offsetof(PlainShortcut, runs), READONLY, "The leading runs a search starts after."},
    {"skip_letters", T_BOOL, offsetof(PlainShortcut, skip_letters), READONLY, "Plain ASCII words never match."},
    {"skip_digits", T_BOOL, offsetof(PlainShortcut, skip_digits), READONLY, "Plain ASCII numbers never match."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PlainShortcutType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cac._scan.PlainShortcut",
    .tp_doc = PyDoc_STR("PlainShortcut(method, no_match, skip_letters, skip_digits, runs): a tokenizer "
                        "expression answered at once for plain ASCII words and numbers."),
    .tp_basicsize = sizeof(PlainShortcut),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)shortcut_init,
    .tp_dealloc = (destructor)shortcut_dealloc,
    .tp_traverse = (traverseproc)shortcut_traverse,
    .tp_clear = (inquiry)shortcut_clear,
    .tp_call = (ternaryfunc)shortcut_call,
    .tp_members = shortcut_members,
};

/* MurmurHash64A (Austin Appleby's public-domain algorithm), the hash spaCy's StringStore gives a string: seed 1
 * over its UTF-8 bytes (spacy.strings.hash_string).  Read byte by byte, little-endian, as on x86-64. */
static uint64_t
murmur64a(const unsigned char *data, Py_ssize_t len, uint64_t seed)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    const int r = 47;
    uint64_t h = seed ^ ((uint64_t)len * m);
    Py_ssize_t blocks = len / 8;
    for (Py_ssize_t b = 0; b < blocks; b++) {
        uint64_t k = 0;
        for (int j = 7; j >= 0; j--) {
            k = (k << 8) | data[8 * b + j];
        }
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    const unsigned char *tail = data + 8 * blocks;
    switch (len & 7) {
    case 7: h ^= (uint64_t)tail[6] << 48; /* fall through */
    case 6: h ^= (uint64_t)tail[5] << 40; /* fall through */
    case 5: h ^= (uint64_t)tail[4] << 32; /* fall through */
    case 4: h ^= (uint64_t)tail[3] << 24; /* fall through */
    case 3: h ^= (uint64_t)tail[2] << 16; /* fall through */
    case 2: h ^= (uint64_t)tail[1] << 8; /* fall through */
    case 1: h ^= (uint64_t)tail[0];
            h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

static PyObject *str_lower;  /* interned "lower" */

/* token_hashes(text, starts, lengths, lower, symbols, seen): each token's spaCy id (ORTH, or with ``lower``
 * LOWER as str.lower gives it) as native uint64 bytes, from the note text and the tokens' int64 start and
 * length arrays: what doc.to_array(ORTH / LOWER) reads off the vocabulary, without reading a token.  ASCII
 * tokens are hashed in place; any other goes through str.lower and UTF-8 as spaCy's strings do.  A string
 * that is one of spaCy's symbols ("_", "neg", "X"...) has the symbol's id: ``symbols`` maps their hashes to
 * their ids, and ``seen`` (8,192 bytes) has bit (h & 0xFFFF) set for each of those hashes. */
#define HASH_BUF 256
static PyObject *
token_hashes(PyObject *self, PyObject *args)
{
    PyObject *text, *symbols;
    Py_buffer sb, lb, fb;
    int lower;
    if (!PyArg_ParseTuple(args, "Uy*y*pO!y*:token_hashes", &text, &sb, &lb, &lower, &PyDict_Type, &symbols, &fb)) {
        return NULL;
    }
    PyObject *out = NULL;
    if (sb.len != lb.len || sb.len % (Py_ssize_t)sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "token_hashes() needs int64 start and length arrays of one size");
        goto done;
    }
    if (fb.len != 8192) {
        PyErr_SetString(PyExc_ValueError, "token_hashes() needs the symbols' 8,192-byte filter");
        goto done;
    }
    const unsigned char *seen = (const unsigned char *)fb.buf;
    Py_ssize_t n = sb.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *starts = (const int64_t *)sb.buf, *lengths = (const int64_t *)lb.buf;
    out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint64_t));
    if (out == NULL) {
        goto done;
    }
    uint64_t *hashes = (uint64_t *)PyBytes_AS_STRING(out);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    unsigned char buf[HASH_BUF];
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = starts[i], len = lengths[i];
        if (s < 0 || len < 0 || s > size || len > size - s) {
            PyErr_SetString(PyExc_ValueError, "token_hashes(): a token lies outside the text");
            Py_CLEAR(out);
            goto done;
        }
        if (len == 0) {
            hashes[i] = 0;  /* spaCy's id of the empty string */
            continue;
        }
        int ascii = len <= HASH_BUF;
        for (int64_t j = 0; ascii && j < len; j++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, s + j);
            if (c >= 128) {
                ascii = 0;
            } else {
                buf[j] = (unsigned char)(lower && IS_UPPER(c) ? c + 32 : c);
            }
        }
        if (ascii) {
            hashes[i] = murmur64a(buf, (Py_ssize_t)len, 1);
            goto symbol;
        }
        PyObject *word = PyUnicode_Substring(text, (Py_ssize_t)s, (Py_ssize_t)(s + len));
        if (word != NULL && lower) {
            Py_SETREF(word, PyObject_CallMethodNoArgs(word, str_lower));
        }
        Py_ssize_t blen;
        const char *bytes = word == NULL ? NULL : PyUnicode_AsUTF8AndSize(word, &blen);
        if (bytes == NULL) {
            Py_XDECREF(word);
            Py_CLEAR(out);
            goto done;
        }
        hashes[i] = blen == 0 ? 0 : murmur64a((const unsigned char *)bytes, blen, 1);
        Py_DECREF(word);
    symbol:
        if (seen[(hashes[i] & 0xFFFF) >> 3] & (1 << (hashes[i] & 7))) {
            PyObject *key = PyLong_FromUnsignedLongLong(hashes[i]);
            PyObject *id = key == NULL ? NULL : PyDict_GetItemWithError(symbols, key);
            Py_XDECREF(key);
            if (id == NULL && PyErr_Occurred()) {
                Py_CLEAR(out);
                goto done;
            }
            if (id != NULL) {
                unsigned long long v = PyLong_AsUnsignedLongLong(id);
                if (v == (unsigned long long)-1 && PyErr_Occurred()) {
                    Py_CLEAR(out);
                    goto done;
                }
                hashes[i] = (uint64_t)v;
            }
        }
    }
done:
    PyBuffer_Release(&sb);
    PyBuffer_Release(&lb);
    PyBuffer_Release(&fb);
    return out;
}

/* The slot an edge (node, token hash) is looked up from in hash_phrase_find's table (the same sum in
 * cac.pipeline.phrase_matcher). */
static inline uint64_t
edge_slot(uint64_t hash, int32_t node)
{
    uint64_t x = hash + (uint64_t)(uint32_t)node * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

/* hash_phrase_find(hashes, e_node, e_hash, e_child, t_off, t_keys): every phrase of a token-hash trie found in
 * a doc's token hashes (native uint64 bytes), as spaCy's PhraseMatcher finds them: [(key, start, end)] by
 * start, then end, keys of one phrase in the order added.  The trie: an open-addressed edge table (int32
 * parent nodes, -1 for an empty slot; uint64 token hashes; int32 children; a power of two in size, probed
 * from edge_slot), and each node's keys t_keys[t_off[node]:t_off[node + 1]] (int32 offsets, uint64 keys). */
static PyObject *
hash_phrase_find(PyObject *self, PyObject *args)
{
    Py_buffer hb, nb, eb, cb, ob, kb;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*:hash_phrase_find", &hb, &nb, &eb, &cb, &ob, &kb)) {
        return NULL;
    }
    PyObject *out = NULL;
    Py_ssize_t n = hb.len / 8, slots = nb.len / 4, nodes = ob.len / 4 - 1, nkeys = kb.len / 8;
    if (hb.len % 8 || nb.len % 4 || eb.len != slots * 8 || cb.len != slots * 4 || ob.len % 4 || nodes < 1
            || kb.len % 8 || slots == 0 || (slots & (slots - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "hash_phrase_find() was given malformed tables");
        goto done;
    }
    const uint64_t *hashes = (const uint64_t *)hb.buf, *e_hash = (const uint64_t *)eb.buf;
    const uint64_t *t_keys = (const uint64_t *)kb.buf;
    const int32_t *e_node = (const int32_t *)nb.buf, *e_child = (const int32_t *)cb.buf;
    const int32_t *t_off = (const int32_t *)ob.buf;
    uint64_t mask = (uint64_t)slots - 1;
    out = PyList_New(0);
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t start = 0; start < n; start++) {
        int32_t node = 0;
        for (Py_ssize_t i = start; i < n; i++) {
            uint64_t h = hashes[i];
            uint64_t k = edge_slot(h, node) & mask;
            int32_t child = -1;
            for (Py_ssize_t probes = 0; probes < slots && e_node[k] != -1; probes++, k = (k + 1) & mask) {
                if (e_node[k] == node && e_hash[k] == h) {
                    child = e_child[k];
                    break;
                }
            }
            if (child <= 0 || child >= nodes) {
                break;
            }
            node = child;
            int32_t lo = t_off[node], hi = t_off[node + 1];
            if (lo < 0 || hi > nkeys || lo > hi) {
                PyErr_SetString(PyExc_ValueError, "hash_phrase_find() was given malformed tables");
                Py_CLEAR(out);
                goto done;
            }
            for (int32_t t = lo; t < hi; t++) {
                if (append_new(out, Py_BuildValue("(Knn)", (unsigned long long)t_keys[t], start, i + 1)) < 0) {
                    Py_CLEAR(out);
                    goto done;
                }
            }
        }
    }
done:
    PyBuffer_Release(&hb);
    PyBuffer_Release(&nb);
    PyBuffer_Release(&eb);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&kb);
    return out;
}

static PyMethodDef methods[] = {
    {"word_tokens", word_tokens, METH_O,
     "The lower-case word and number tokens of a text with their offsets (cac.lexicon.normalize.raw_tokens)."},
    {"alnum_runs", alnum_runs, METH_VARARGS,
     "alnum_runs(text, skip, fold=False): the runs of ASCII letters and digits of a lower-case text not in "
     "skip, as (starts, ends, words); with fold, each word's singular."},
    {"canonical_tokens", canonical_tokens, METH_VARARGS,
     "Each token's canonical forms (canon(word)) with its offsets; None when a word is a context word."},
    {"sentence_bits", sentence_bits, METH_O,
     "{token: the sentences holding it, as the bits of an int} of a list of token lists."},
    {"screen", screen, METH_VARARGS,
     "screen(in_sents, n_sentences, token_ids, slot_start, slot_rows, token_rank, row_start, row_ids, row_tids): "
     "the (term id, sentence) pairs of TermMatcher._screen's array test."},
    {"descriptor_counts", descriptor_counts, METH_VARARGS,
     "descriptor_counts(ids, sentence_of, offsets, codes, sizes, min_overlap, min_coverage): "
     "DescriptorMatcher._scored's per-sentence counts."},
    {"concept_tokens", concept_tokens, METH_VARARGS,
     "concept_tokens(text, bounds, expansions, headers, canon, context, fallback): the concept matcher's "
     "canonical tokens of each sentence, as (forms per kept sentence, starts bytes, ends bytes, cuts)."},
    {"resolve", resolve, METH_VARARGS,
     "resolve(tids, tokens, segments, without, terms, denied_cache, denied_of, slack, hard_break): "
     "TermMatcher._resolve's matches of one sentence, as [(positions, term ids, optional hits, extent)]."},
    {"word_ids", word_ids, METH_VARARGS,
     "word_ids(words, index, missing): the native int64 bytes of [index.get(w, missing) for w in words]."},
    {"found_in", found_in, METH_VARARGS,
     "found_in(text, needles): the set of the needles (a tuple of str) that occur in text."},
    {"token_hashes", token_hashes, METH_VARARGS,
     "token_hashes(text, starts, lengths, lower, symbols, seen): each token's spaCy ORTH (or LOWER) id, as native "
     "uint64 bytes."},
    {"hash_phrase_find", hash_phrase_find, METH_VARARGS,
     "hash_phrase_find(hashes, e_node, e_hash, e_child, t_off, t_keys): a token-hash phrase trie's matches, "
     "as spaCy's PhraseMatcher gives them."},
    {"phrase_find", phrase_find, METH_VARARGS,
     "phrase_find(root, words, end_key, cls): _PhraseIndex.find's matches of a word trie in a word list."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "cac._scan", "Compiled note scanners (optional; Python twins run without them).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    if (PyType_Ready(&PlainShortcutType) < 0) {
        return NULL;
    }
    str_lower = PyUnicode_InternFromString("lower");
    if (str_lower == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "PlainShortcut", (PyObject *)&PlainShortcutType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
