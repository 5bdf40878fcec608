//! The spec's abstract syntax tree: everything DESIGN.md's spec contract can say, with a span on every node.
//!
//! Both front ends produce this same tree (through `spec::lower`), with every default filled in, so that a YAML
//! spec and its DSL twin compare equal. Spans never take part in equality (see [`Span`]).

pub use crate::diagnostics::Span;

/// A value with the span of the source text it came from; a default value carries the span of its section.
/// Its `Debug` shows the value only, so that a printed AST (`galen compile --emit ast`) reads as the spec does.
#[derive(Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written (or the enclosing section, for a default).
    pub span: Span,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> Spanned<T> {
    /// Wraps a value with its span.
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// Declares a field-less enum whose variants have spec names, with `NAMES`, `ALL`, `name` and `from_name`.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$variant_meta])* $variant,)* }

        impl $name {
            /// Every variant with its spec name, in declaration order.
            pub const ALL: &'static [(&'static str, $name)] = &[$(($text, $name::$variant),)*];
            /// Every spec name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text,)*];

            /// The spec name.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The variant with this spec name.
            pub fn from_name(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// A whole spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The experiment's name (YAML `name`, DSL `experiment`); the file stem by default.
    pub name: Spanned<String>,
    /// The seed of every random stream (split, init, shuffle, dropout).
    pub seed: Spanned<u64>,
    /// Where the data come from and how they are prepared.
    pub data: Data,
    /// The layers, input to output.
    pub model: Spanned<Vec<Spanned<Layer>>>,
    /// How to train.
    pub train: Train,
    /// What to report; empty means the defaults for the task.
    pub metrics: Spanned<Vec<Spanned<Metric>>>,
}

/// The `data` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    /// The section as a whole.
    pub span: Span,
    /// The data file or image folder.
    pub source: Spanned<Source>,
    /// The column to predict.
    pub target: Spanned<String>,
    /// The positive class of a binary target, as written; by default the last class in sort order.
    pub positive: Option<Spanned<String>>,
    /// The predictor columns; by default every column but the target, split, group and excluded ones.
    pub features: Option<Spanned<Vec<Spanned<String>>>>,
    /// Columns that are not predictors.
    pub exclude: Spanned<Vec<Spanned<String>>>,
    /// Declared column kinds, overriding inference, in the order written.
    pub types: Spanned<Vec<(Spanned<String>, Spanned<ColumnKind>)>>,
    /// Reshapes each row's features: `[height, width, channels]` or `[steps, features]`.
    pub shape: Option<Spanned<Vec<usize>>>,
    /// How missing cells are filled.
    pub missing: Missing,
    /// How numeric columns are scaled.
    pub scale: Spanned<Scale>,
    /// How categorical columns are encoded.
    pub encode: Spanned<Encode>,
    /// How rows are divided into train, validation and test.
    pub split: Spanned<Split>,
    /// Per-class loss weights.
    pub class_weight: Option<Spanned<ClassWeight>>,
    /// How reported risks are corrected for the class weights, as written (only with `class_weight`); see
    /// [`Data::risk_correction`] for the setting in force.
    pub risk_correction: Option<Spanned<RiskCorrection>>,
}

impl Data {
    /// The risk correction in force: `None` without class weights (there is nothing to correct), else the one
    /// written, `prior` by default.
    pub fn risk_correction(&self) -> Option<RiskCorrection> {
        self.class_weight.as_ref()?;
        Some(self.risk_correction.as_ref().map_or(RiskCorrection::Prior, |correction| correction.value))
    }
}

/// Where the rows come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A CSV file with a header row.
    Csv {
        /// The path as written, relative to the spec file.
        path: Spanned<String>,
        /// The field delimiter.
        delimiter: Spanned<char>,
    },
    /// A folder of PNG/JPEG images: one sub-folder per class, or a manifest CSV.
    Images {
        /// The folder as written, relative to the spec file.
        dir: Spanned<String>,
        /// Every image is resized to `[height, width]`.
        size: Spanned<[usize; 2]>,
        /// Grayscale (one channel) or RGB (three).
        color: Spanned<Color>,
        /// A CSV with a `file` column, the target column and optionally a patient column.
        manifest: Option<Spanned<String>>,
    },
}

named_enum! {
    /// The color model images are read in.
    pub enum Color {
        /// One channel.
        Grayscale = "grayscale",
        /// Three channels.
        Rgb = "rgb",
    }
}

impl Color {
    /// Number of channels.
    pub fn channels(self) -> usize {
        match self {
            Color::Grayscale => 1,
            Color::Rgb => 3,
        }
    }
}

named_enum! {
    /// The kind of a data column, inferred from its values or declared in `data.types`.
    pub enum ColumnKind {
        /// Numbers; missing cells allowed.
        Numeric = "numeric",
        /// A fixed set of labels, one-hot or ordinal encoded.
        Categorical = "categorical",
        /// Exactly two labels.
        Binary = "binary",
        /// An identifier: unique per row or numbering the rows; never a predictor.
        Id = "id",
        /// A calendar date or time; never a predictor.
        Date = "date",
    }
}

/// The `data.missing` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Missing {
    /// The strategy for numeric columns.
    pub numeric: Spanned<Impute>,
    /// The strategy for categorical and binary columns.
    pub categorical: Spanned<Impute>,
    /// Per-column strategies, overriding the per-kind ones.
    pub columns: Vec<(Spanned<String>, Spanned<Impute>)>,
    /// Whether to add a 0/1 missing-indicator column for every column with missing cells.
    pub indicator: Spanned<bool>,
}

/// How to fill a missing cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Impute {
    /// Drop the row.
    Drop,
    /// The training rows' mean.
    Mean,
    /// The training rows' median.
    Median,
    /// The training rows' most frequent value.
    Mode,
    /// Zero.
    Zero,
    /// A fixed value.
    Constant(Scalar),
    /// The previous value in file order (within the group column, if any).
    Ffill,
    /// The next value in file order.
    Bfill,
    /// Linear interpolation between neighbours in file order.
    Interpolate,
}

impl Impute {
    /// The spec names of the strategies.
    pub const NAMES: &'static [&'static str] =
        &["drop", "mean", "median", "mode", "zero", "constant", "ffill", "bfill", "interpolate"];

    /// The spec name.
    pub fn name(&self) -> &'static str {
        match self {
            Impute::Drop => "drop",
            Impute::Mean => "mean",
            Impute::Median => "median",
            Impute::Mode => "mode",
            Impute::Zero => "zero",
            Impute::Constant(_) => "constant",
            Impute::Ffill => "ffill",
            Impute::Bfill => "bfill",
            Impute::Interpolate => "interpolate",
        }
    }

    /// The strategy with this name, if it takes no value.
    pub fn from_name(text: &str) -> Option<Impute> {
        Some(match text {
            "drop" => Impute::Drop,
            "mean" => Impute::Mean,
            "median" => Impute::Median,
            "mode" => Impute::Mode,
            "zero" => Impute::Zero,
            "ffill" => Impute::Ffill,
            "bfill" => Impute::Bfill,
            "interpolate" => Impute::Interpolate,
            _ => return None,
        })
    }
}

/// A number or a text, kept as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A number with its text.
    Number { value: f64, text: String },
    /// A text.
    Text(String),
}

impl Scalar {
    /// The text as written.
    pub fn text(&self) -> &str {
        match self {
            Scalar::Number { text, .. } => text,
            Scalar::Text(text) => text,
        }
    }
}

named_enum! {
    /// How numeric columns are scaled (fitted on the training rows).
    pub enum Scale {
        /// Left as they are.
        None = "none",
        /// Zero mean, unit standard deviation.
        Standard = "standard",
        /// To [0, 1].
        MinMax = "minmax",
        /// Median removed, divided by the interquartile range.
        Robust = "robust",
    }
}

named_enum! {
    /// How categorical columns become numbers.
    pub enum Encode {
        /// One 0/1 column per category.
        OneHot = "onehot",
        /// One column holding the category's index.
        Ordinal = "ordinal",
    }
}

/// How rows are divided.
#[derive(Clone, Debug, PartialEq)]
pub enum Split {
    /// Random fractions of the rows.
    Fractions {
        /// Fraction for training.
        train: Spanned<f64>,
        /// Fraction for validation.
        val: Spanned<f64>,
        /// Fraction for the final test.
        test: Spanned<f64>,
        /// Keep class proportions in every split.
        stratify: Spanned<bool>,
        /// Keep all rows of one group (patient) in one split.
        group: Option<Spanned<String>>,
    },
    /// A column holding `train`, `val` or `test` for each row.
    Column {
        /// The column's name.
        column: Spanned<String>,
    },
    /// A second CSV is the test set; `val` is a fraction of the first file.
    TestFile {
        /// The test file as written, relative to the spec.
        path: Spanned<String>,
        /// Fraction of the first file kept for validation.
        val: Spanned<f64>,
        /// Keep class proportions.
        stratify: Spanned<bool>,
        /// Keep all rows of one group in one split.
        group: Option<Spanned<String>>,
    },
    /// k-fold cross-validation on the non-test rows.
    KFold {
        /// Number of folds.
        folds: Spanned<usize>,
        /// Fraction held out for the final test.
        test: Spanned<f64>,
        /// Keep class proportions in every fold.
        stratify: Spanned<bool>,
        /// Keep all rows of one group in one fold.
        group: Option<Spanned<String>>,
    },
}

impl Split {
    /// Whether the split provides validation rows (needed to monitor a validation metric).
    pub fn has_validation(&self) -> bool {
        match self {
            Split::Fractions { val, .. } | Split::TestFile { val, .. } => val.value > 0.0,
            Split::Column { .. } | Split::KFold { .. } => true,
        }
    }

    /// The group (patient) column, if any.
    pub fn group(&self) -> Option<&Spanned<String>> {
        match self {
            Split::Fractions { group, .. } | Split::TestFile { group, .. } | Split::KFold { group, .. } => {
                group.as_ref()
            }
            Split::Column { .. } => None,
        }
    }
}

/// Per-class loss weights.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassWeight {
    /// Inversely proportional to class frequency in the training rows.
    Balanced,
    /// Given per class label (as written).
    Explicit(Vec<(Spanned<String>, Spanned<f64>)>),
}

named_enum! {
    /// What class weights do to the risks a model reports. A model trained with class weights `w_k` learns the
    /// classes as if their prevalences were `w_k n_k / sum_j w_j n_j`; `prior` corrects its probabilities back to
    /// the training rows' prevalence (Saerens, Latinne and Decaestecker 2002).
    pub enum RiskCorrection {
        /// Corrected back to the training prevalence.
        Prior = "prior",
        /// Left as the weighted model gives them.
        None = "none",
    }
}

/// One layer of the model.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Fully connected.
    Dense { units: Spanned<usize>, activation: Spanned<Activation> },
    /// 2-D convolution over `[height, width, channels]`.
    Conv2d {
        filters: Spanned<usize>,
        kernel: Spanned<[usize; 2]>,
        stride: Spanned<[usize; 2]>,
        padding: Spanned<Padding>,
        activation: Spanned<Activation>,
    },
    /// 2-D max pooling.
    MaxPool2d { size: Spanned<[usize; 2]>, stride: Spanned<[usize; 2]> },
    /// 2-D average pooling.
    AvgPool2d { size: Spanned<[usize; 2]>, stride: Spanned<[usize; 2]> },
    /// Mean over height and width.
    GlobalAvgPool2d,
    /// Flattens everything but the batch axis.
    Flatten,
    /// Zeroes a fraction of activations during training.
    Dropout { rate: Spanned<f64> },
    /// Batch normalisation with running statistics.
    BatchNorm { momentum: Spanned<f64>, epsilon: Spanned<f64> },
    /// Long short-term memory over `[steps, features]`.
    Lstm { units: Spanned<usize>, return_sequences: Spanned<bool> },
    /// Gated recurrent unit over `[steps, features]`.
    Gru { units: Spanned<usize>, return_sequences: Spanned<bool> },
    /// An activation on its own.
    Activation { function: Spanned<Activation> },
}

/// The spec names of the layers.
pub const LAYER_NAMES: &[&str] = &[
    "dense",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "flatten",
    "dropout",
    "batch_norm",
    "lstm",
    "gru",
    "activation",
];

impl Layer {
    /// The layer's spec name.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "dense",
            Layer::Conv2d { .. } => "conv2d",
            Layer::MaxPool2d { .. } => "max_pool2d",
            Layer::AvgPool2d { .. } => "avg_pool2d",
            Layer::GlobalAvgPool2d => "global_avg_pool2d",
            Layer::Flatten => "flatten",
            Layer::Dropout { .. } => "dropout",
            Layer::BatchNorm { .. } => "batch_norm",
            Layer::Lstm { .. } => "lstm",
            Layer::Gru { .. } => "gru",
            Layer::Activation { .. } => "activation",
        }
    }

    /// The activation the layer ends with, if it has one.
    pub fn activation(&self) -> Option<&Spanned<Activation>> {
        match self {
            Layer::Dense { activation, .. } | Layer::Conv2d { activation, .. } => Some(activation),
            Layer::Activation { function } => Some(function),
            _ => None,
        }
    }
}

named_enum! {
    /// Convolution padding.
    pub enum Padding {
        /// No padding: the output shrinks by the kernel size minus one.
        Valid = "valid",
        /// Zero padding so that stride 1 keeps the size.
        Same = "same",
    }
}

named_enum! {
    /// An activation function.
    pub enum Activation {
        /// The identity.
        Linear = "linear",
        /// max(0, x).
        Relu = "relu",
        /// x for x > 0, 0.01 x otherwise.
        LeakyRelu = "leaky_relu",
        /// x for x > 0, exp(x) - 1 otherwise.
        Elu = "elu",
        /// Gaussian error linear unit.
        Gelu = "gelu",
        /// 1 / (1 + exp(-x)).
        Sigmoid = "sigmoid",
        /// Hyperbolic tangent.
        Tanh = "tanh",
        /// Normalised exponentials over the last axis.
        Softmax = "softmax",
    }
}

/// The `train` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    /// The section as a whole.
    pub span: Span,
    /// The optimizer and its settings.
    pub optimizer: Spanned<Optimizer>,
    /// The loss minimised.
    pub loss: Spanned<Loss>,
    /// Passes over the training rows.
    pub epochs: Spanned<usize>,
    /// Rows per step.
    pub batch_size: Spanned<usize>,
    /// Stop when a validation metric stops improving.
    pub early_stopping: Option<Spanned<EarlyStopping>>,
    /// Learning-rate schedule.
    pub schedule: Option<Spanned<Schedule>>,
}

impl Train {
    /// What training watches between epochs: early stopping's monitor and the plateau schedule's, each with the
    /// name of the setting (`early stopping`, `the plateau schedule`) and the setting's span.
    pub fn monitors(&self) -> Vec<(&'static str, &Spanned<String>, Span)> {
        let mut monitors = Vec::new();
        if let Some(stopping) = &self.early_stopping {
            monitors.push(("early stopping", &stopping.value.monitor, stopping.span));
        }
        if let Some(schedule) = &self.schedule {
            if let Schedule::Plateau { monitor, .. } = &schedule.value {
                monitors.push(("the plateau schedule", monitor, schedule.span));
            }
        }
        monitors
    }

    /// The settings that watch a validation quantity (`val_...`), with their spans.
    pub fn validation_watchers(&self) -> Vec<(&'static str, Span)> {
        self.monitors()
            .into_iter()
            .filter(|(_, monitor, _)| monitor.value.starts_with("val_"))
            .map(|(what, _, span)| (what, span))
            .collect()
    }
}

/// An optimizer with its settings (Keras' defaults). Its `Debug` shows gradient clipping only when it is set, as
/// its spec key (`global_clipnorm: 1.0`), so that a printed AST reads as the spec does.
#[derive(Clone, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent.
    Sgd { lr: Spanned<f64>, momentum: Spanned<f64>, nesterov: Spanned<bool>, clipping: Option<Spanned<Clipping>> },
    /// Adam.
    Adam {
        lr: Spanned<f64>,
        beta1: Spanned<f64>,
        beta2: Spanned<f64>,
        eps: Spanned<f64>,
        clipping: Option<Spanned<Clipping>>,
    },
    /// Adam with decoupled weight decay.
    AdamW {
        lr: Spanned<f64>,
        beta1: Spanned<f64>,
        beta2: Spanned<f64>,
        eps: Spanned<f64>,
        weight_decay: Spanned<f64>,
        clipping: Option<Spanned<Clipping>>,
    },
}

/// How the gradients are clipped before the optimizer's update, as Keras' optimizers do; Keras takes one of the
/// three at a time, and so does the spec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clipping {
    /// `clipnorm`: each gradient tensor is scaled down to at most this L2 norm.
    Norm(f64),
    /// `global_clipnorm`: all gradients are scaled down together so that their joint L2 norm is at most this.
    GlobalNorm(f64),
    /// `clipvalue`: each gradient element is clipped to `[-value, value]`.
    Value(f64),
}

/// The spec keys of gradient clipping, accepted by every optimizer.
pub const CLIPPING_KEYS: &[&str] = &["clipnorm", "global_clipnorm", "clipvalue"];

impl Clipping {
    /// The clipping a spec key names, with its limit.
    pub fn from_key(key: &str, limit: f64) -> Option<Clipping> {
        match key {
            "clipnorm" => Some(Clipping::Norm(limit)),
            "global_clipnorm" => Some(Clipping::GlobalNorm(limit)),
            "clipvalue" => Some(Clipping::Value(limit)),
            _ => None,
        }
    }

    /// The spec key.
    pub fn key(self) -> &'static str {
        match self {
            Clipping::Norm(_) => "clipnorm",
            Clipping::GlobalNorm(_) => "global_clipnorm",
            Clipping::Value(_) => "clipvalue",
        }
    }

    /// The limit: a norm or an element's largest magnitude.
    pub fn limit(self) -> f64 {
        match self {
            Clipping::Norm(limit) | Clipping::GlobalNorm(limit) | Clipping::Value(limit) => limit,
        }
    }
}

/// The spec names of the optimizers.
pub const OPTIMIZER_NAMES: &[&str] = &["sgd", "adam", "adamw"];

impl Optimizer {
    /// The spec name.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
            Optimizer::AdamW { .. } => "adamw",
        }
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> &Spanned<f64> {
        match self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } | Optimizer::AdamW { lr, .. } => lr,
        }
    }

    /// How the gradients are clipped before the update, if they are.
    pub fn clipping(&self) -> Option<&Spanned<Clipping>> {
        match self {
            Optimizer::Sgd { clipping, .. } | Optimizer::Adam { clipping, .. } | Optimizer::AdamW { clipping, .. } => {
                clipping.as_ref()
            }
        }
    }
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut fields = match self {
            Optimizer::Sgd { lr, momentum, nesterov, .. } => {
                let mut fields = f.debug_struct("Sgd");
                fields.field("lr", lr).field("momentum", momentum).field("nesterov", nesterov);
                fields
            }
            Optimizer::Adam { lr, beta1, beta2, eps, .. } => {
                let mut fields = f.debug_struct("Adam");
                fields.field("lr", lr).field("beta1", beta1).field("beta2", beta2).field("eps", eps);
                fields
            }
            Optimizer::AdamW { lr, beta1, beta2, eps, weight_decay, .. } => {
                let mut fields = f.debug_struct("AdamW");
                fields.field("lr", lr).field("beta1", beta1).field("beta2", beta2).field("eps", eps);
                fields.field("weight_decay", weight_decay);
                fields
            }
        };
        if let Some(clipping) = self.clipping() {
            fields.field(clipping.value.key(), &clipping.value.limit());
        }
        fields.finish()
    }
}

named_enum! {
    /// A loss function.
    pub enum Loss {
        /// Cross-entropy over a softmax output.
        CategoricalCrossentropy = "categorical_crossentropy",
        /// Cross-entropy over one sigmoid unit.
        BinaryCrossentropy = "binary_crossentropy",
        /// Mean squared error.
        Mse = "mse",
        /// Mean absolute error.
        Mae = "mae",
        /// Huber loss (delta 1).
        Huber = "huber",
    }
}

impl Loss {
    /// Whether the loss treats the target as a class label.
    pub fn is_classification(self) -> bool {
        matches!(self, Loss::CategoricalCrossentropy | Loss::BinaryCrossentropy)
    }
}

/// `train.early_stopping`.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    /// The validation quantity watched: `val_loss` or `val_` + a metric.
    pub monitor: Spanned<String>,
    /// Epochs without improvement before stopping.
    pub patience: Spanned<usize>,
    /// Restore the weights of the best epoch at the end.
    pub restore_best: Spanned<bool>,
    /// The smallest change that counts as an improvement.
    pub min_delta: Spanned<f64>,
}

/// `train.schedule`.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Multiply the learning rate by `factor` every `every` epochs.
    Step { every: Spanned<usize>, factor: Spanned<f64> },
    /// Cosine decay from the initial rate to `min_lr` over the epochs.
    Cosine { min_lr: Spanned<f64> },
    /// Multiply by `factor` when `monitor` has not improved for `patience` epochs.
    Plateau { patience: Spanned<usize>, factor: Spanned<f64>, monitor: Spanned<String> },
}

/// The spec names of the schedules.
pub const SCHEDULE_NAMES: &[&str] = &["step", "cosine", "plateau"];

impl Schedule {
    /// The spec name.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Step { .. } => "step",
            Schedule::Cosine { .. } => "cosine",
            Schedule::Plateau { .. } => "plateau",
        }
    }
}

named_enum! {
    /// A reported metric.
    pub enum Metric {
        /// Fraction correct.
        Accuracy = "accuracy",
        /// PPV.
        Precision = "precision",
        /// Sensitivity.
        Recall = "recall",
        /// Recall, by its clinical name.
        Sensitivity = "sensitivity",
        /// True negative rate.
        Specificity = "specificity",
        /// Positive predictive value (precision).
        Ppv = "ppv",
        /// Negative predictive value.
        Npv = "npv",
        /// Harmonic mean of precision and recall.
        F1 = "f1",
        /// Area under the ROC curve (c-statistic).
        Auc = "auc",
        /// Area under the precision-recall curve.
        PrAuc = "pr_auc",
        /// Cross-entropy of the predicted probabilities.
        LogLoss = "log_loss",
        /// Mean squared error of the predicted probabilities.
        Brier = "brier",
        /// Counts of true and predicted classes.
        ConfusionMatrix = "confusion_matrix",
        /// Calibration intercept and slope (a binary model's; printed as two figures).
        Calibration = "calibration",
        /// Mean squared error.
        Mse = "mse",
        /// Root mean squared error.
        Rmse = "rmse",
        /// Mean absolute error.
        Mae = "mae",
        /// Coefficient of determination.
        R2 = "r2",
    }
}

impl Metric {
    /// Whether the metric applies to regression (the others apply to classification).
    pub fn is_regression(self) -> bool {
        matches!(self, Metric::Mse | Metric::Rmse | Metric::Mae | Metric::R2)
    }

    /// Whether the metric is one number, and so can be monitored (`val_auc`): not the confusion matrix, nor
    /// calibration (an intercept and a slope).
    pub fn is_single_number(self) -> bool {
        !matches!(self, Metric::ConfusionMatrix | Metric::Calibration)
    }
}
