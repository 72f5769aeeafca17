"""Unsupervised grouping of the papers no configured topic claimed.

The method is evidence accumulation (Fred & Jain, 2005) over latent semantic analysis:

1. TF-IDF of specific unigrams and bigrams (sublinear, terms in at least two papers and at most
   half of them), reduced by truncated SVD to a few dozen dimensions at several sizes;
2. many cheap k-means runs over those views and over a range of k, each voting on which papers
   belong together (the co-association matrix);
3. average-linkage clustering of the votes, cut where the hierarchy is most stable (the
   longest-lived number of groups), so the number of groups comes from the data;
4. a group with more than ``max_share`` of the papers is split along its own hierarchy, groups
   under ``min_size`` are dissolved, and their papers join the nearest group when they are
   close to it, or "Other".

One k-means on one view is noisy (its AMI moves by ±0.03 from one seed to the next on the
evaluation listings); the vote is steadier and better than the TF-IDF + NMF baseline. Above
``SAMPLE`` papers the votes are taken on an even sample and the rest join the nearest group,
which keeps memory linear.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import linkage, to_tree
from scipy.sparse import csr_matrix
from scipy.spatial.distance import squareform
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from bot.topics.text import Tokens

SAMPLE = 2000
DIMENSIONS = (20, 30, 50)
OTHER = -1


@dataclass(frozen=True, slots=True)
class Options:
    """How discovered groups are shaped; the defaults suit a daily digest of 20 to 2,000 papers."""

    min_size: int = 3
    max_share: float = 0.35
    max_groups: int = 12
    seed: int = 0
    assign: float = 0.45
    """The cosine between a paper and a known topic's centroid from which the paper joins that
    topic rather than a new group (measured: benchmarks/topics.py --continuity)."""
    threads: int = 1
    """Threads for the numeric libraries while grouping; 0 leaves their own default (one OpenMP
    thread per core, per pool). One is the fastest measured, idle or loaded, from 1,000 to
    10,000 papers (benchmarks/topics.py --threads): the vote's matrices are small, so threads
    cost more to start and synchronise than they save, and on a shared machine they
    oversubscribe the cores (a 1,000-paper grouping took 2.4–5.1 s beside two busy processes
    with the default pools, 0.75–1.1 s with one thread)."""


def thread_limit(options: Options) -> AbstractContextManager[object]:
    """Hold scikit-learn's and numpy's thread pools to ``options.threads`` while grouping."""
    if options.threads == 0:
        return nullcontext()
    limiter: AbstractContextManager[object] = threadpool_limits(limits=options.threads)
    return limiter


def discover(docs: Sequence[Tokens], options: Options = Options()) -> np.ndarray:
    """A group number per document (``OTHER`` for none), numbered by decreasing size."""
    n = len(docs)
    labels = np.full(n, OTHER, dtype=int)
    if n < 2 * options.min_size:
        return labels
    views = _views(docs, options.seed)
    if not views:
        return labels
    sample = _sample(n, options.seed)
    votes = _vote([view[sample] for view in views], options)
    groups = _cut(votes, options)
    labels[sample] = groups
    labels = _settle(labels, views[len(views) // 2], options)
    return _by_size(labels)


def _views(docs: Sequence[Tokens], seed: int) -> list[np.ndarray]:
    """LSA views of the papers: unigrams alone, then unigrams and bigrams, each at DIMENSIONS."""
    n = len(docs)
    vectorizer = TfidfVectorizer(
        analyzer=lambda doc: doc.terms(), min_df=2 if n >= 10 else 1,
        max_df=0.5 if n >= 10 else 1.0, sublinear_tf=True, norm=None, dtype=np.float32,
    )
    try:
        both = vectorizer.fit_transform(docs)
    except ValueError:  # no term left: every paper empty or identical
        return []
    unigrams = [i for term, i in sorted(vectorizer.vocabulary_.items()) if " " not in term]
    views = []
    for matrix in (both[:, sorted(unigrams)], both):
        matrix = normalize(matrix)
        for dims in DIMENSIONS:
            dims = min(dims, matrix.shape[1] - 1, n - 1)
            if dims < 2:
                continue
            reduced = TruncatedSVD(dims, random_state=seed).fit_transform(matrix)
            views.append(normalize(reduced).astype(np.float32))
    return views


def _sample(n: int, seed: int) -> np.ndarray:
    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False))


def _vote(views: list[np.ndarray], options: Options) -> np.ndarray:
    """The share of runs that put each pair of papers together."""
    n = len(views[0])
    k_high = max(2, min(options.max_groups, n // options.min_size))
    k_low = max(2, k_high // 2)
    rng = np.random.default_rng(options.seed)
    columns, offset = [], 0
    for view in views:
        for k in range(k_low, k_high + 1):
            run = KMeans(k, n_init=1, random_state=int(rng.integers(2**31))).fit_predict(view)
            columns.append(run + offset)
            offset += k
    runs = len(columns)
    rows = np.repeat(np.arange(n), runs)
    onehot = csr_matrix((np.ones(n * runs, np.float32), (rows, np.stack(columns, 1).ravel())))
    together: np.ndarray = (onehot @ onehot.T).toarray() / runs
    return together


def _cut(votes: np.ndarray, options: Options) -> np.ndarray:
    n = len(votes)
    distance = 1.0 - votes
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    heights = tree[:, 2]
    k_high = max(2, min(options.max_groups, n // options.min_size))
    best, best_life = n - 1, -1.0
    for merges in range(n - k_high, n - 2):  # cutting after `merges` merges leaves n - merges groups
        life = heights[merges] - heights[merges - 1] if merges else heights[0]
        if life > best_life + 1e-9:
            best, best_life = merges, life
    return _split_large(tree, n, n - best, options)


def _split_large(tree: np.ndarray, n: int, k: int, options: Options) -> np.ndarray:
    """Cut the hierarchy into k groups, then split any group over max_share along its subtree."""
    root = to_tree(tree)
    nodes = [root]
    while len(nodes) < k:
        nodes.sort(key=lambda node: node.dist)
        top = nodes.pop()
        nodes += [top.get_left(), top.get_right()]
    limit = max(options.min_size, options.max_share * n)
    while True:
        large = [node for node in nodes if node.count > limit and not node.is_leaf()]
        if not large:
            break
        node = max(large, key=lambda node: node.count)
        nodes.remove(node)
        nodes += [node.get_left(), node.get_right()]
    labels = np.empty(n, dtype=int)
    for number, node in enumerate(nodes):
        labels[node.pre_order()] = number
    return labels


def _settle(labels: np.ndarray, view: np.ndarray, options: Options) -> np.ndarray:
    """Dissolve groups under min_size; papers left over join the nearest group if close enough."""
    counts = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.array([], int)
    keep = [g for g, c in enumerate(counts) if c >= options.min_size]
    if not keep:
        return np.full(len(labels), OTHER, dtype=int)
    centroids = normalize(np.stack([view[labels == g].mean(0) for g in keep]))
    similarity = view @ centroids.T
    nearest = similarity.argmax(1)
    # A paper joins a group when it is at least as close as the group's own least typical members.
    floors = np.array([
        np.quantile(similarity[labels == g, i], 0.1) for i, g in enumerate(keep)
    ])
    settled = np.full(len(labels), OTHER, dtype=int)
    for g in keep:
        settled[labels == g] = g
    loose = np.isin(labels, keep, invert=True)
    close = similarity[np.arange(len(labels)), nearest] >= floors[nearest]
    unsampled = labels == OTHER
    join = loose & (close | unsampled)
    settled[join] = np.asarray(keep)[nearest[join]]
    return settled


def _by_size(labels: np.ndarray) -> np.ndarray:
    groups = [g for g in np.unique(labels) if g != OTHER]
    order = sorted(groups, key=lambda g: (-int((labels == g).sum()), int(np.argmax(labels == g))))
    renumber = {g: i for i, g in enumerate(order)}
    return np.array([renumber.get(g, OTHER) for g in labels], dtype=int)

