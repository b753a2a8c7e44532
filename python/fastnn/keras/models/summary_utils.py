"""model.summary(): Keras 3's table (Layer (type) | Output Shape | Param #, and Connected to
for a functional model, one inbound tensor per line) drawn with box characters, then the
parameter totals with their sizes (4 bytes per float32 scalar, in B/KB/MB/GB of 1024)."""

from ..layers.layer import shape_str

__all__ = ["print_summary", "readable_memory_size"]


def readable_memory_size(nbytes):
    """``'198.79 KB'``: the size in the largest unit (B, KB, MB, GB, TB, PB; steps of 1024)
    that keeps the number at 1 or more, two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def _row(layer):
    name = f"{layer.name} ({type(layer).__name__})"
    try:
        shape = shape_str(layer.output_shape)
    except AttributeError:
        shape = "?"
    params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
    return name, shape, params


def _lines(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _nbytes(weights):
    return sum(w.numel() * w.element_size() for w in weights)


def print_summary(model, line_length=None, print_fn=None, connections=None):
    """Print the table; ``connections(layer)``, when given, lists the layer's inbound
    tensors for a fourth column."""
    print_fn = print_fn or print
    rows = [_row(layer) + ((connections(layer),) if connections else ()) for layer in model.layers]
    headers = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if connections else ())
    minimum = (31, 22, 13, 19)
    widths = [max([minimum[i], len(headers[i])] + [max(map(len, _lines(r[i]))) for r in rows])
              for i in range(len(headers))]
    extra = 3 * len(widths) + 1
    if line_length and line_length > sum(widths) + extra:
        widths[0] += line_length - (sum(widths) + extra)

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values, edge):
        columns = [_lines(v) for v in values]
        out = []
        for k in range(max(len(c) for c in columns)):
            parts = [(c[k] if k < len(c) else "") for c in columns]
            parts = [p.rjust(w) if i == 2 else p.ljust(w) for i, (p, w) in enumerate(zip(parts, widths))]
            out.append(edge + " " + f" {edge} ".join(parts) + " " + edge)
        return out

    lines = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), *cells(headers, "┃"), line("┡", "╇", "┩", "━")]
    for k, r in enumerate(rows):
        lines.extend(cells(r, "│"))
        lines.append(line("├", "┼", "┤", "─") if k < len(rows) - 1 else line("└", "┴", "┘", "─"))
    if not rows:
        lines.append(line("└", "┴", "┘", "─"))
    built = all(layer.built for layer in model.layers)
    trainable = model.trainable_weights if built else []
    frozen = model.non_trainable_weights if built else []
    # As Keras 3: the total counts the optimizer's variables too (its iteration count, its
    # learning rate unless that is a schedule, its state), once it has built them.
    optimizer = getattr(model, "optimizer", None)
    opt_vars = optimizer.variables if optimizer is not None and optimizer.built else None
    opt_n = sum(a.size for a in opt_vars) if opt_vars is not None else 0
    opt_bytes = sum(a.nbytes for a in opt_vars) if opt_vars is not None else 0
    total_n = sum(w.numel() for w in trainable) + sum(w.numel() for w in frozen) + opt_n
    lines.append(f" Total params: {total_n:,} "
                 f"({readable_memory_size(_nbytes(trainable) + _nbytes(frozen) + opt_bytes)})")
    lines.append(f" Trainable params: {sum(w.numel() for w in trainable):,} "
                 f"({readable_memory_size(_nbytes(trainable))})")
    lines.append(f" Non-trainable params: {sum(w.numel() for w in frozen):,} "
                 f"({readable_memory_size(_nbytes(frozen))})")
    if opt_vars is not None:
        lines.append(f" Optimizer params: {opt_n:,} ({readable_memory_size(opt_bytes)})")
    for text in lines:
        print_fn(text)
