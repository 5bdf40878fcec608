"""Known values for the unit tests of `src/metrics/` (src/metrics/tests.rs), computed independently.

Not run by CI. To regenerate (scikit-learn 1.9.1, statsmodels 0.15.0, numpy at the time of writing):

    python3 -m venv venv-sk && venv-sk/bin/pip install scikit-learn numpy statsmodels
    venv-sk/bin/python tests/data/metrics/known_values.py

and copy the printed numbers into the tests. Every number is printed with Python's `repr`, the shortest text that
reads back to the same float.
"""

import numpy as np
import statsmodels.api as sm
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.preprocessing import label_binarize


def show(name, value):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.floating):
        value = float(value)
    print(f"{name} = {value!r}")


def calibration(y, p):
    """Calibration slope (y ~ a + b logit(p)) and intercept (y ~ a + offset(logit(p))), Van Calster et al."""
    logit = np.log(p / (1 - p))
    slope_fit = sm.GLM(y, sm.add_constant(logit), family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    intercept_fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=logit).fit(
        tol=1e-14, maxiter=200
    )
    return intercept_fit.params[0], slope_fit.params[1]


def binary(title, y, p, positive_is_one=True):
    """`y` is 1 for the positive class, `p` the predicted probability of the positive class."""
    print(f"# {title}")
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    predicted = (p >= 0.5).astype(int)
    show("accuracy_score", accuracy_score(y, predicted))
    show("confusion_matrix (rows true 0/1, columns predicted 0/1)", confusion_matrix(y, predicted, labels=[0, 1]))
    show("precision_score (ppv)", precision_score(y, predicted, zero_division=0))
    show("recall_score (sensitivity)", recall_score(y, predicted, zero_division=0))
    show("recall_score pos_label=0 (specificity)", recall_score(y, predicted, pos_label=0, zero_division=0))
    show("precision_score pos_label=0 (npv)", precision_score(y, predicted, pos_label=0, zero_division=0))
    show("f1_score", f1_score(y, predicted, zero_division=0))
    show("roc_auc_score", roc_auc_score(y, p))
    show("average_precision_score", average_precision_score(y, p))
    show("log_loss", log_loss(y, p))
    show("brier_score_loss", brier_score_loss(y, p))
    intercept, slope = calibration(y, p)
    show("calibration intercept (GLM Binomial, offset=logit(p))", intercept)
    show("calibration slope (GLM Binomial on logit(p))", slope)
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    show("roc_curve fpr", fpr)
    show("roc_curve tpr", tpr)
    show("roc_curve thresholds", thresholds)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    bins = np.linspace(0.0, 1.0, 11)
    counts = np.bincount(np.searchsorted(bins[1:-1], p), minlength=10)
    show("calibration_curve prob_pred", prob_pred)
    show("calibration_curve prob_true", prob_true)
    show("calibration_curve counts (non-empty bins)", counts[counts > 0])
    print()


# Binary, with ties in the scores (within a class and across classes) and a score of exactly 0.5.
binary(
    "binary with ties",
    [0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0],
    [0.1, 0.4, 0.35, 0.8, 0.4, 0.8, 0.2, 0.65, 0.5, 0.5, 0.9, 0.7],
)

# Imbalanced binary: 4 positives in 20. In the Rust test the positive class is index 0 ("disease").
binary(
    "imbalanced binary (positive = class 0)",
    [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0],
    [0.05, 0.12, 0.62, 0.08, 0.31, 0.02, 0.45, 0.28, 0.15, 0.09, 0.22, 0.04, 0.55, 0.71, 0.11, 0.07, 0.18, 0.38,
     0.03, 0.26],
)

# Log loss with probabilities of exactly 0 and 1 (clipped to [eps, 1 - eps], eps = float64 machine epsilon).
print("# log loss with 0 and 1")
show("log_loss", log_loss([1, 0, 1, 0], [1.0, 0.0, 0.0, 0.3]))
print()

# Three classes of unequal support; row 6 is a tie between classes 0 and 1 (argmax takes the lowest index).
print("# three classes")
y3 = np.array([0, 1, 2, 0, 1, 2, 0, 2, 2, 0, 1, 2, 2, 2, 1])
p3 = np.array([
    [0.7, 0.2, 0.1],
    [0.2, 0.5, 0.3],
    [0.1, 0.3, 0.6],
    [0.3, 0.4, 0.3],
    [0.1, 0.8, 0.1],
    [0.3, 0.3, 0.4],
    [0.4, 0.4, 0.2],
    [0.25, 0.25, 0.5],
    [0.2, 0.2, 0.6],
    [0.6, 0.3, 0.1],
    [0.5, 0.4, 0.1],
    [0.1, 0.1, 0.8],
    [0.35, 0.45, 0.2],
    [0.8, 0.1, 0.1],
    [0.3, 0.6, 0.1],
])
pred3 = np.argmax(p3, axis=1)
show("argmax", pred3)
show("accuracy_score", accuracy_score(y3, pred3))
show("confusion_matrix", confusion_matrix(y3, pred3, labels=[0, 1, 2]))
precision, recall, f1, support = precision_recall_fscore_support(y3, pred3, labels=[0, 1, 2], zero_division=0)
show("precision_recall_fscore_support precision", precision)
show("precision_recall_fscore_support recall", recall)
show("precision_recall_fscore_support f1", f1)
show("precision_recall_fscore_support support", support)
mcm = multilabel_confusion_matrix(y3, pred3, labels=[0, 1, 2])
tn, fp, fn = mcm[:, 0, 0], mcm[:, 0, 1], mcm[:, 1, 0]
show("multilabel_confusion_matrix specificity tn/(tn+fp)", tn / (tn + fp))
show("multilabel_confusion_matrix npv tn/(tn+fn)", tn / (tn + fn))
for average in ["macro", "weighted"]:
    show(f"precision_score average={average}", precision_score(y3, pred3, average=average, zero_division=0))
    show(f"recall_score average={average}", recall_score(y3, pred3, average=average, zero_division=0))
    show(f"f1_score average={average}", f1_score(y3, pred3, average=average, zero_division=0))
show("roc_auc_score multi_class=ovr average=macro", roc_auc_score(y3, p3, multi_class="ovr", average="macro"))
onehot = label_binarize(y3, classes=[0, 1, 2])
show("average_precision_score(label_binarize) average=macro", average_precision_score(onehot, p3, average="macro"))
show("log_loss", log_loss(y3, p3))
show("brier_score_loss (multi-class, scale_by_half=False)", brier_score_loss(y3, p3, scale_by_half=False))
for c in range(3):
    fpr, tpr, thresholds = roc_curve(onehot[:, c], p3[:, c], drop_intermediate=False)
    show(f"roc_curve class {c} fpr", fpr)
    show(f"roc_curve class {c} tpr", tpr)
    show(f"roc_curve class {c} thresholds", thresholds)
print()

print("# regression")
truth = np.array([3.0, -0.5, 2.0, 7.0, 4.2, 1.1, 0.0, 5.5])
predicted = np.array([2.5, 0.0, 2.1, 7.8, 3.9, 1.5, -0.3, 6.0])
show("mean_squared_error", mean_squared_error(truth, predicted))
show("sqrt(mean_squared_error)", np.sqrt(mean_squared_error(truth, predicted)))
show("mean_absolute_error", mean_absolute_error(truth, predicted))
show("r2_score", r2_score(truth, predicted))
