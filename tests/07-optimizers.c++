// Lesson 07 · Optimizers: two or three steps with known gradients, checked
// against the update rules worked by hand; state allocation and bad arguments.
#include "test.h"

using namespace tt;

namespace {
Tensor param(const std::vector<float>& values) {
    return make_parameter(Tensor({(int64_t)values.size()}, values));
}
// Gives p exactly this gradient, as if a backward pass had computed it.
void set_grad(Tensor& p, const std::vector<float>& g) {
    p.zero_grad();
    accumulate_grad(p, Tensor(p.shape(), g));
}
} // namespace

TEST(sgd_plain_step) {
    Tensor p = param({1, -2});
    SGD opt({p}, 0.5f);
    set_grad(p, {2, -1});
    opt.step(); // p -= 0.5 * g
    CHECK_VALUES(p, 0, {0, -1.5f});
    CHECK(opt.state().empty() && opt.steps == 1);
}

TEST(sgd_momentum_and_weight_decay_by_hand) {
    Tensor p = param({1, -2});
    SGD opt({p}, 0.1f, 0.9f, 0.1f);
    // step 1: d = g + 0.1 p = [0.6, 0.8]; buf = d; p -= 0.1 buf
    set_grad(p, {0.5f, 1});
    opt.step();
    CHECK_VALUES(p, 1e-6, {0.94f, -2.08f});
    // step 2: d = [-1 + 0.094, 0.5 - 0.208]; buf = 0.9 [0.6, 0.8] + d = [-0.366, 1.012]
    set_grad(p, {-1, 0.5f});
    opt.step();
    CHECK_VALUES(opt.buffer(0, 0), 1e-6, {-0.366f, 1.012f});
    CHECK_VALUES(p, 1e-6, {0.9766f, -2.1812f});
    CHECK(opt.state().size() == 1 && opt.state()[0].first == "0.momentum_buffer");
}

TEST(adam_bias_correction_by_hand) {
    Tensor p = param({1});
    Adam opt({p}, 0.1f);
    // step 1: m = 0.2, v = 0.004; m^ = 2, v^ = 4: the first step is lr * sign(g)
    set_grad(p, {2});
    opt.step();
    CHECK_NEAR(p.item(), 0.9, 1e-6);
    set_grad(p, {-1}); // m = 0.08, v = 0.004996; m^ = 0.08/0.19, v^ = 0.004996/0.001999
    opt.step();
    CHECK_NEAR(p.item(), 0.8733663, 1e-6);
    set_grad(p, {0.5f});
    opt.step();
    CHECK_NEAR(p.item(), 0.8393234, 1e-6);
    CHECK_NEAR(opt.buffer(0, 0).item(), 0.122, 1e-6);
    CHECK_NEAR(opt.buffer(0, 1).item(), 0.005241004, 1e-7);
    CHECK_NEAR(opt.buffer(0, 2).item(), 3, 0);
}

TEST(adam_l2_versus_adamw_decoupled) {
    Tensor a = param({1}), b = param({1});
    Adam l2({a}, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f);
    AdamW decoupled({b}, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f);
    for (float g : {2.0f, -1.0f}) {
        set_grad(a, {g});
        set_grad(b, {g});
        l2.step();
        decoupled.step();
    }
    // Adam: d = g + 0.5 p goes through m and v.  AdamW: p *= 1 - 0.1*0.5, then the plain Adam step.
    CHECK_NEAR(a.item(), 0.8505569, 1e-6);
    CHECK_NEAR(b.item(), 0.7808663, 1e-6);
}

TEST(optimizer_state_is_lazy_and_counted) {
    const int64_t before = memory_counts(Category::OptimizerState).live_bytes;
    {
        Linear layer(8, 4);
        Adam opt(layer.parameters());
        CHECK_EQ(memory_counts(Category::OptimizerState).live_bytes, before); // nothing until the first step
        Tensor loss = sum(layer(Tensor::ones({2, 8})));
        loss.backward();
        opt.step();
        // m and v per weight, plus one step count per parameter tensor
        CHECK_EQ(memory_counts(Category::OptimizerState).live_bytes - before, (2 * (32 + 4) + 2) * 4);
        CHECK(opt.state().size() == 6 && opt.state()[5].first == "1.step");
        opt.zero_grad();
        CHECK(!layer.weight.grad().defined());
    }
    CHECK_EQ(memory_counts(Category::OptimizerState).live_bytes, before);
}

TEST(optimizer_skips_a_parameter_without_grad) {
    Tensor used = param({1}), unused = param({5});
    Adam opt({used, unused}, 0.1f);
    set_grad(used, {1});
    opt.step();
    CHECK_NEAR(unused.item(), 5, 0);
    CHECK_NEAR(used.item(), 0.9, 1e-6);
    CHECK_EQ(opt.state().size(), 3); // state only for the parameter that moved
    SGD sgd({used, unused}, 0.1f, 0.9f);
    sgd.step();
    CHECK_NEAR(unused.item(), 5, 0);
}

TEST_GIVEN(optimizer_bad_arguments) {
    Tensor p = param({1});
    CHECK_THROWS(SGD({p}, -0.1f), "SGD: lr must be >= 0");
    CHECK_THROWS(SGD({p}, 0.1f, -0.5f), "SGD: momentum must be >= 0");
    CHECK_THROWS(SGD({p}, 0.1f, 0, -1), "SGD: weight_decay");
    CHECK_THROWS(SGD({}, 0.1f), "SGD: got an empty parameter list");
    CHECK_THROWS(Adam({p}, 0.1f, 1.0f), "Adam: beta1 must be in [0, 1)");
    CHECK_THROWS(Adam({p}, 0.1f, 0.9f, -0.1f), "Adam: beta2 must be in [0, 1)");
    CHECK_THROWS(AdamW({p}, 0.1f, 0.9f, 1.5f), "AdamW: beta2");
    CHECK_THROWS(Adam({p}, std::nanf("")), "Adam: lr");
    CHECK_THROWS(SGD({Tensor({1}, {1})}, 0.1f), "SGD: parameter 0 [1] is not a contiguous leaf that requires grad");
    CHECK_THROWS(Adam({p, Tensor()}, 0.1f), "Adam: the tensor is undefined");
}

TEST(optimizer_trains_a_line) {
    // y = 3x - 1 from 16 points: every optimizer gets the loss well down
    Tensor x = Tensor::arange(16).reshape({16, 1}) / 16.0f, y = x * 3.0f - 1.0f;
    for (int which = 0; which < 3; which++) {
        Generator g(7);
        Linear model(1, 1, true, Init::Kaiming, g);
        std::unique_ptr<Optimizer> opt;
        if (which == 0) opt.reset(new SGD(model.parameters(), 0.3f, 0.9f));
        else if (which == 1) opt.reset(new Adam(model.parameters(), 0.1f));
        else opt.reset(new AdamW(model.parameters(), 0.1f));
        float last = 0;
        for (int step = 0; step < 200; step++) {
            Tensor loss = mse_loss(model(x), y);
            opt->zero_grad();
            loss.backward();
            opt->step();
            last = loss.item();
        }
        CHECK(last < 1e-3f);
    }
}

TEST(weight_decay_can_be_turned_off_per_parameter) {
    // zero gradients: only the decay moves a weight (AdamW: p *= 1 - lr*wd; SGD: p -= lr*wd*p)
    for (int which = 0; which < 2; which++) {
        Tensor a = make_parameter(Tensor::ones({2})), b = make_parameter(Tensor::ones({3}));
        std::unique_ptr<Optimizer> opt;
        if (which == 0) opt.reset(new AdamW({a, b}, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f));
        else opt.reset(new SGD({a, b}, 0.1f, 0.0f, 0.5f));
        opt->exclude_from_weight_decay({b});
        CHECK(opt->decays == (std::vector<bool>{true, false}));
        a.backward(Tensor::zeros({2}));
        b.backward(Tensor::zeros({3}));
        opt->step();
        CHECK_VALUES(a, 1e-6, {0.95f, 0.95f});
        CHECK_VALUES(b, 0, {1, 1, 1});
    }
    Tensor p = make_parameter(Tensor::ones({2}));
    AdamW opt({p}, 0.1f);
    CHECK_THROWS(opt.exclude_from_weight_decay({make_parameter(Tensor::ones({2}))}),
                 "exclude_from_weight_decay: a tensor of shape [2] is not one of the optimizer's parameters");
}
